import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { FUNCTIONS } from '../../../contracts/functions';
import {
  WARMUP_BACKEND_TIMEOUT_MS,
  WARMUP_MAX_RECEIVE_COUNT,
  WarmUpMessageSchema,
} from '../../../contracts/model-warmup';
import { backendDependencies } from '../../inference/backend-runtime';
import { instrument } from '../../observability/instrument';
import { tracer } from '../../observability/tracer';
import { WarmUpQueue } from '../../registry/warm-up-queue';
import { WarmUpStatus } from '../../registry/warm-up-status';
import { warmUp } from './warm-up';

const env = FUNCTIONS.modelWarmup.environment.parse(process.env);
const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const deps = {
  inference: backendDependencies(dynamodb, WARMUP_BACKEND_TIMEOUT_MS),
  status: new WarmUpStatus(dynamodb, env.REGISTRY_TABLE_NAME),
  queue: new WarmUpQueue(tracer.captureAWSv3Client(new SQSClient({})), env.WARMUP_QUEUE_URL),
};
const processor = new BatchProcessor(EventType.SQS);

/**
 * A record that fails is delivered again; on its last delivery the warm-up fails its version rather
 * than throw. An unreadable record, or one whose registry writes fail, is dead-lettered.
 */
async function record(message: SQSRecord): Promise<void> {
  const lastDelivery = Number(message.attributes.ApproximateReceiveCount) >= WARMUP_MAX_RECEIVE_COUNT;
  await warmUp(deps, WarmUpMessageSchema.parse(JSON.parse(message.body)), { lastDelivery });
}

export const handler = instrument(
  (event: SQSEvent, context: Context) =>
    processPartialResponse(event, record, processor, { context, throwOnFullBatchFailure: false }),
  { requestMetrics: false },
);
