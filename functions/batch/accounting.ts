/**
 * Exactly-once accounting of a chunk's outcome, shared by the worker and the dead-letter consumer:
 * whoever records a chunk, its counts land in the job once and the job finishes once.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from '../../contracts/metric-catalog';
import { logger } from '../observability/logger';
import { publishEvent } from '../observability/metrics';
import { type BatchJob, type ItemResult, type JobStatus, TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, ChunkResult, Counts, JobRecord } from './batch-store';
import { type EventSender, notifyJobEnded } from './job-events';
import { writeManifest } from './result-files';
import type { ResultFiles } from './result-parts';

/**
 * Counts a recorded chunk result into its job (once, however often it is called) and finishes the
 * job when every item is accounted for (`finishJob`). `job` is the job as the caller read it before
 * the chunk ran: when this chunk's counts make it add up, one write counts and ends it
 * (`countChunk`'s `ending`), provided it has not moved since. Returns the job as this call's last
 * write left it, when that write was the count (so a release need not read it again).
 */
export async function countResult(
  store: BatchStore,
  job: JobRecord,
  result: ChunkResult,
  files?: ResultFiles,
): Promise<JobRecord | undefined> {
  const counts = countsOf(result.results);
  const outcome = await store.countChunk(job.jobId, result.chunk, counts, endingOf(job, counts));
  if (!outcome) return undefined;
  // Published by the one call that counted the chunk, so the metrics are exactly-once too (a write
  // whose answer was lost and that the SDK retried reads as counted before: at most once, then).
  if (outcome.counted) {
    publishEvent(METRIC.batchItemsSucceeded, MetricUnit.Count, counts.succeeded, { model: job.model });
    publishEvent(METRIC.batchItemsFailed, MetricUnit.Count, counts.failed, { model: job.model });
  }
  const counted = outcome.job;
  if (outcome.ended) {
    jobEnded(job, counted.status);
    await completeEndOf(store, files, outcome.ended);
    return outcome.ended;
  }
  if (counted.succeeded + counted.failed + counted.cancelled !== counted.total) return outcome.record;
  await finishJob(store, job, counted, files);
  return undefined;
}

/** The status `job`, as read, ends in when `counts` are added, if they make it add up. */
function endingOf(job: JobRecord, counts: Counts): { read: JobRecord; status: JobStatus } | undefined {
  if (job.status !== 'QUEUED' && job.status !== 'RUNNING') return undefined;
  if (job.scan || job.retryChunks.length > 0) return undefined;
  const after = {
    ...job,
    succeeded: job.succeeded + counts.succeeded,
    failed: job.failed + counts.failed,
    cancelled: job.cancelled + counts.cancelled,
  };
  if (after.succeeded + after.failed + after.cancelled !== job.total) return undefined;
  return { read: job, status: terminalStatus(after) };
}

/**
 * Moves a retried chunk's recovered items from failed to succeeded (once, however often it is
 * called) and finishes the job when the retry's last chunk is counted.
 */
export async function countRetry(
  store: BatchStore,
  job: BatchJob,
  chunk: number,
  attempt: number,
  recovered: number,
  files?: ResultFiles,
): Promise<void> {
  const counted = await store.countRetry(job.jobId, chunk, attempt, recovered);
  // Items recovered by a retry succeeded too; published once, by the call that counted them.
  if (counted?.counted && recovered > 0) {
    publishEvent(METRIC.batchItemsSucceeded, MetricUnit.Count, recovered, { model: job.model });
  }
  if (!counted?.done) return;
  await finishJob(store, job, counted.job, files);
}

/**
 * Finishes a job whose counts add up though no count is left to finish it: its scan ended after
 * its last chunk was counted (or found no item). A job that has ended gets what its end still lacks
 * (`completeEnd`): the call that ended it may have died first.
 */
export async function finishIfCounted(
  store: BatchStore,
  files: ResultFiles | undefined,
  jobId: string,
): Promise<void> {
  const job = await store.getJobRecord(jobId);
  if (!job) return;
  if (TERMINAL_STATUSES.includes(job.status)) return completeEndOf(store, files, job);
  if (job.scan || job.succeeded + job.failed + job.cancelled !== job.total) return;
  await finishJob(store, job, job, files);
}

export async function finishJob(
  store: BatchStore,
  job: BatchJob,
  counted: Counts & Pick<BatchJob, 'total' | 'statusReason' | 'cancelRequestedAt'>,
  files?: ResultFiles,
): Promise<void> {
  const status = terminalStatus(counted);
  // Conditional on the total the counts were read with: a scan may still be adding items.
  if (await store.finish(job.jobId, status, counted.total)) jobEnded(job, status);
  // Also when another call ended the job: this may be the redelivery after a crash before its end
  // was complete.
  await completeEnd(store, files, job.jobId);
}

/** The log line and duration metric of the one call that ended a job. */
function jobEnded(job: BatchJob, status: JobStatus): void {
  const durationMs = Date.now() - Date.parse(job.createdAt);
  logger.info('batch job finished', {
    jobId: job.jobId,
    principal: job.owner,
    model: job.model,
    status,
    durationMs,
  });
  publishEvent(METRIC.batchJobDuration, MetricUnit.Milliseconds, durationMs, { outcome: status });
}

/**
 * What an ended job's end still lacks outside the table: an S3 job's manifest, then the job-ended
 * event, in that order, so that a consumer of the event finds the results. `notifiedAt`, recorded
 * after the event, marks the end complete; until then every call that finds the job ended (a
 * redelivery, a dead letter, the stall watch's last check) writes the manifest again and sends the
 * event, as the call that ended the job may have died before either. Returns the job if it has ended.
 */
export async function completeEnd(
  store: BatchStore,
  files: ResultFiles | undefined,
  jobId: string,
  send?: EventSender,
): Promise<JobRecord | undefined> {
  const job = await store.getJobRecord(jobId);
  if (!job || !TERMINAL_STATUSES.includes(job.status)) return undefined;
  await completeEndOf(store, files, job, send);
  return job;
}

/** `completeEnd` for a job its caller has just read and found ended. */
export async function completeEndOf(
  store: BatchStore,
  files: ResultFiles | undefined,
  job: JobRecord,
  send?: EventSender,
): Promise<void> {
  if (job.notifiedAt) return;
  await writeManifest(files, job);
  await notifyJobEnded(store, job, send);
}

export function countsOf(results: readonly ItemResult[]): Counts {
  let succeeded = 0;
  let failed = 0;
  let cancelled = 0;
  for (const r of results) {
    if ('outputs' in r) succeeded++;
    else if ('error' in r) failed++;
    else cancelled++;
  }
  return { succeeded, failed, cancelled };
}

/**
 * A job's end from its counts. A job whose cancel was accepted ends CANCELLED, as its 202 promised,
 * even if no item was left to stop (a deferred chunk's duplicate delivery recorded the last one
 * meanwhile); a job whose input files were not read to their end did not succeed.
 */
export function terminalStatus(
  counts: Counts & Pick<BatchJob, 'statusReason' | 'cancelRequestedAt'>,
): JobStatus {
  if (counts.cancelled > 0 || counts.cancelRequestedAt !== undefined) return 'CANCELLED';
  if (counts.failed === 0 && counts.statusReason === undefined) return 'SUCCEEDED';
  if (counts.succeeded === 0) return 'FAILED';
  return 'COMPLETED_WITH_ERRORS';
}
