import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { FUNCTIONS } from '../../../contracts/functions';
import {
  WARMUP_BACKEND_TIMEOUT_MS,
  WARMUP_MAX_RECEIVE_COUNT,
  WarmUpMessageSchema,
} from '../../../contracts/model-warmup';
import { backendDependencies } from '../../inference/backend-runtime';
import { instrument } from '../../observability/instrument';
import { logger } from '../../observability/logger';
import { tracer } from '../../observability/tracer';
import { WarmUpQueue } from '../../registry/warm-up-queue';
import { WarmUpStatus } from '../../registry/warm-up-status';
import { sqs } from '../../sqs';
import { failDeadLettered, warmUp } from './warm-up';

const env = FUNCTIONS.modelWarmup.environment.parse(process.env);
const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const deps = {
  inference: backendDependencies(dynamodb, WARMUP_BACKEND_TIMEOUT_MS),
  status: new WarmUpStatus(dynamodb, env.REGISTRY_TABLE_NAME),
  queue: new WarmUpQueue(sqs, env.WARMUP_QUEUE_URL),
};
const processor = new BatchProcessor(EventType.SQS);

/**
 * A record that fails is delivered again; on its last delivery the warm-up fails its version rather
 * than throw. One that still fails (a crash, a timeout, registry writes failing) is dead-lettered,
 * and from the dead-letter queue its version ends FAILED. A dead letter that is not a warm-up names
 * no version: it is logged and dropped.
 */
async function record(message: SQSRecord): Promise<void> {
  if (message.eventSourceARN === env.WARMUP_DEAD_LETTER_QUEUE_ARN) {
    const parsed = WarmUpMessageSchema.safeParse(parseJson(message.body));
    if (!parsed.success) {
      logger.error('dead-lettered message is not a warm-up; dropped', { messageId: message.messageId });
      return;
    }
    await failDeadLettered(deps, parsed.data);
    return;
  }
  const lastDelivery = Number(message.attributes.ApproximateReceiveCount) >= WARMUP_MAX_RECEIVE_COUNT;
  await warmUp(deps, WarmUpMessageSchema.parse(JSON.parse(message.body)), { lastDelivery });
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export const handler = instrument(
  (event: SQSEvent, context: Context) =>
    processPartialResponse(event, record, processor, { context, throwOnFullBatchFailure: false }),
  { requestMetrics: false },
);
