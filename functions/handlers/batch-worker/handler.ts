import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { FUNCTIONS } from '../../../contracts/functions';
import { parseWorkMessage, type WorkMessage } from '../../batch/api-schemas';
import type { JobRecord } from '../../batch/batch-store';
import { releaseWork } from '../../batch/fan-out';
import { batchData, dynamodb, modelCache, pacingOf, store } from '../../batch/queue-runtime';
import { processChunk } from '../../batch/worker';
import { backendDependencies } from '../../inference/backend-runtime';
import { instrument } from '../../observability/instrument';
import { logger } from '../../observability/logger';
import { sqs } from '../../sqs';

const env = FUNCTIONS.batchWorker.environment.parse(process.env);

// No API Gateway in front: a chunk may wait as long as SageMaker lets a container answer (60 s).
const backends = backendDependencies(dynamodb, 60_000);

const outage = {
  budgetSeconds: env.BATCH_OUTAGE_BUDGET_SECONDS,
  defer: async (work: WorkMessage, delaySeconds: number) => {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: env.WORK_QUEUE_URL,
        MessageBody: JSON.stringify(work),
        DelaySeconds: delaySeconds,
      }),
    );
  },
};

const pacing = pacingOf(env);
const release = (jobId: string, attempt?: number, counted?: JobRecord) =>
  releaseWork(pacing, jobId, attempt, counted);

const processor = new BatchProcessor(EventType.SQS);

async function work(record: SQSRecord): Promise<void> {
  const parsed = parseWorkMessage(record.body);
  if (!parsed.success) {
    logger.error('malformed work message', { messageId: record.messageId, reason: parsed.error.message });
    throw parsed.error;
  }
  try {
    await processChunk(
      {
        store,
        models: modelCache,
        inference: backends,
        outage,
        release,
        inputs: batchData,
        resultFiles: batchData,
      },
      parsed.data,
      {
        receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
        sentAtEpochMs: Number(record.attributes.SentTimestamp) || undefined,
        firstReceivedAtEpochMs: Number(record.attributes.ApproximateFirstReceiveTimestamp) || undefined,
      },
    );
  } catch (error) {
    // Reported as this record's failure: SQS redelivers it after the visibility timeout.
    logger.warn('chunk not processed; it will be retried', { ...parsed.data, error: error as Error });
    throw error;
  }
}

export const handler = instrument(
  (event: SQSEvent, context: Context) =>
    processPartialResponse(event, work, processor, { context, throwOnFullBatchFailure: false }),
  // Chunk and job metrics are published as events (publishEvent); nothing is stored to flush.
  { requestMetrics: false },
);
