/** Running a finished job's failed items again. */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ConflictError, NotFoundError } from '../edge/errors';
import type { Principal } from '../edge/principal';
import type { BatchJob } from './api-schemas';
import { type BatchStore, type JobRecord, toJob } from './batch-store';
import { mapInFlight } from './in-flight';
import { readJob } from './queries';
import { type ResultFiles, readRecordedResult } from './result-parts';

/** Chunks read at once to find those holding failed items. */
const READ_CONCURRENCY = 8;

export interface RetryDependencies {
  readonly store: BatchStore;
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly submissionsQueueUrl: string;
  /** Where S3 jobs' result parts are, to find their failed items. */
  readonly resultFiles?: ResultFiles;
}

/**
 * Starts a retry of a FAILED or COMPLETED_WITH_ERRORS job: it runs again (RUNNING) over the chunks
 * holding failed items, which the fan-out queues again; only their failed items run. One retry
 * starts however many requests race (the store's update is conditional on the previous attempt).
 * A request while a retry runs sends that retry's fan-out message again and answers the job, as a
 * repeated submission does: the first request may have stopped before sending, and duplicates of
 * the message count once.
 */
export async function retryJob(
  deps: RetryDependencies,
  principal: Principal,
  jobId: string,
): Promise<BatchJob> {
  await readJob(deps.store, principal, jobId);
  let job = await deps.store.getJobRecord(jobId);
  if (job && (job.status === 'FAILED' || job.status === 'COMPLETED_WITH_ERRORS')) {
    const chunks = await chunksWithFailures(deps, job);
    if (chunks.length > 0) await deps.store.startRetry(jobId, job.attempt + 1, chunks);
    job = await deps.store.getJobRecord(jobId);
  }
  if (!job) throw new NotFoundError(`batch job '${jobId}' is not found`);
  if (job.deletingAt) throw new ConflictError(`batch job '${jobId}' is being deleted; it cannot be retried`);
  if (job.status !== 'RUNNING' || job.retryChunks.length === 0) {
    throw new ConflictError(
      `batch job '${jobId}' is ${job.status}; only a FAILED or COMPLETED_WITH_ERRORS job with failed items can be retried`,
    );
  }
  await deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: deps.submissionsQueueUrl,
      MessageBody: JSON.stringify({ jobId, retry: job.attempt }),
    }),
  );
  // As shown, never as stored: the record holds the stall watch's token.
  return (await deps.store.getJob(jobId)) ?? toJob(job);
}

async function chunksWithFailures(deps: RetryDependencies, job: JobRecord): Promise<number[]> {
  const chunks = Array.from({ length: job.chunks }, (_, chunk) => chunk);
  const results = await mapInFlight(chunks, READ_CONCURRENCY, (chunk) =>
    readRecordedResult(deps.store, deps.resultFiles, job, chunk),
  );
  return chunks.filter((_, i) => results[i]?.results.some((r) => 'error' in r));
}
