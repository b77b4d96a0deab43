import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { QUEUE_ENVIRONMENT } from '../../contracts/functions';
import { tracer } from '../observability/tracer';
import { ModelCache } from '../registry/model-cache';
import { ModelRegistry } from '../registry/registry';
import { BatchStore } from './batch-store';

/**
 * What the queue-driven batch functions (fan-out and worker) share in a container: the batch table,
 * the registry behind a cache, and their clients, from an environment parsed once at load.
 */
export const queueEnvironment = QUEUE_ENVIRONMENT.parse(process.env);

export const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
// Our queues live in the function's own region: the regional endpoint serves them (and the local
// emulator, whose queue URLs do not name a reachable host).
export const sqs = tracer.captureAWSv3Client(new SQSClient({ useQueueUrlAsEndpoint: false }));
export const store = new BatchStore(dynamodb, queueEnvironment.BATCH_TABLE_NAME);
export const modelCache = new ModelCache(new ModelRegistry(dynamodb, queueEnvironment.REGISTRY_TABLE_NAME), {
  ttlMs: queueEnvironment.REGISTRY_CACHE_TTL_MS,
});
