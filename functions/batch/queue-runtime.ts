import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QUEUE_ENVIRONMENT } from '../../contracts/functions';
import { tracer } from '../observability/tracer';
import { ModelCache } from '../registry/model-cache';
import { RegistryReader } from '../registry/registry';
import { BatchStore } from './batch-store';

/**
 * What the queue-driven batch functions (fan-out and worker) share in a container: the batch table,
 * the registry behind a cache, and the DynamoDB client, from an environment parsed once at load.
 */
export const queueEnvironment = QUEUE_ENVIRONMENT.parse(process.env);

export const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
export const store = new BatchStore(
  dynamodb,
  queueEnvironment.BATCH_TABLE_NAME,
  undefined,
  queueEnvironment.BATCH_RETENTION_SECONDS,
);
export const modelCache = new ModelCache(new RegistryReader(dynamodb, queueEnvironment.REGISTRY_TABLE_NAME), {
  ttlMs: queueEnvironment.REGISTRY_CACHE_TTL_MS,
});
