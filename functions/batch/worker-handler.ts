import { randomUUID } from 'node:crypto';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { CircuitBreaker, CircuitSettingsSchema } from '../shared/circuit-breaker';
import { instrument } from '../shared/observability/instrument';
import { logger } from '../shared/observability/logger';
import { tracer } from '../shared/observability/tracer';
import { processChunk } from './batch-service';
import { WorkMessageSchema } from './contracts';
import { dynamodb, modelCache, store } from './worker-runtime';

const env = z
  .object({
    BACKEND_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
    CIRCUIT_TABLE_NAME: z.string().min(1),
    CIRCUIT_SETTINGS: z
      .string()
      .transform((s) => JSON.parse(s) as unknown)
      .pipe(CircuitSettingsSchema),
    /** The work queue's maxReceiveCount: the delivery on which failures are recorded, not retried. */
    WORK_MAX_RECEIVE_COUNT: z.coerce.number().int().min(1),
  })
  .parse(process.env);

const circuits = new CircuitBreaker(dynamodb, env.CIRCUIT_TABLE_NAME, env.CIRCUIT_SETTINGS, randomUUID());
const sagemaker = tracer.captureAWSv3Client(
  new SageMakerRuntimeClient({
    maxAttempts: 1,
    requestHandler: { requestTimeout: env.BACKEND_TIMEOUT_MS, connectionTimeout: 2_000 },
  }),
);

const processor = new BatchProcessor(EventType.SQS);

async function work(record: SQSRecord): Promise<void> {
  const parsed = WorkMessageSchema.safeParse(safeJson(record.body));
  if (!parsed.success) {
    logger.error('malformed work message', { messageId: record.messageId, reason: parsed.error.message });
    throw parsed.error;
  }
  try {
    await processChunk(
      { store, models: modelCache, inference: { sagemaker, circuits, timeoutMs: env.BACKEND_TIMEOUT_MS } },
      parsed.data,
      {
        receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
        maxReceiveCount: env.WORK_MAX_RECEIVE_COUNT,
        sentAtEpochMs: Number(record.attributes.SentTimestamp) || undefined,
      },
    );
  } catch (error) {
    // Reported as this record's failure: SQS redelivers it after the visibility timeout.
    logger.warn('chunk not processed; it will be retried', { ...parsed.data, error: error as Error });
    throw error;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const handler = instrument((event: SQSEvent, context: Context) =>
  processPartialResponse(event, work, processor, { context, throwOnFullBatchFailure: false }),
);
