import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QUEUE_ENVIRONMENT } from '../../contracts/functions';
import { tracer } from '../observability/tracer';
import { ModelCache } from '../registry/model-cache';
import { RegistryReader } from '../registry/registry';
import { sqs } from '../sqs';
import { BatchStore } from './batch-store';
import type { FanOutDependencies } from './fan-out';
import { s3 } from './s3';

/**
 * What the queue-driven batch functions (fan-out and worker) share in a container: the batch table,
 * the registry behind a cache, the batch data bucket and the release of work, from an environment
 * parsed once at load.
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

/** The batch data bucket: input files and S3 jobs' results. */
export const batchData = { s3, bucket: queueEnvironment.BATCH_DATA_BUCKET };

/** How a function releases work (`releaseWork`): to its work queue, within the owner's window. */
export function pacingOf(env: {
  readonly WORK_QUEUE_URL: string;
  readonly BATCH_WORK_WINDOW: number;
}): FanOutDependencies {
  return {
    store,
    sqs,
    workQueueUrl: env.WORK_QUEUE_URL,
    window: env.BATCH_WORK_WINDOW,
    resultFiles: batchData,
  };
}
