/**
 * What becomes of batch work that SQS dead-lettered: the items it held are recorded as failed, with
 * the reason, through the same exactly-once accounting as the worker's, so the job still reaches a
 * terminal status without anyone redriving the queue.
 */
import type * as z from '../../contracts/zod';
import { logger } from '../observability/logger';
import { completeEnd, countResult, countRetry, finishIfCounted } from './accounting';
import {
  type ItemResult,
  StoredJobMessageSchema,
  SubmissionMessageSchema,
  TERMINAL_STATUSES,
} from './api-schemas';
import type { BatchStore, JobRecord, StoredChunk } from './batch-store';
import { fingerprintOf } from './fingerprint';
import { mapInFlight } from './in-flight';
import { chunkResultsOf } from './result-files';
import type { ResultFiles } from './result-parts';
import type { CheckWatch } from './stall-watch';

/** Chunks recorded at once when a dead-lettered submission fails a whole job. */
const CHUNK_CONCURRENCY = 8;

/**
 * Records a dead-lettered chunk's items as failed with `reason` unless the chunk has a result
 * already (which then stays), and counts the chunk once. A chunk that a cancel stopped before it
 * started ends cancelled instead, as the worker would have ended it.
 */
export async function failChunk(
  store: BatchStore,
  work: { readonly jobId: string; readonly chunk: number; readonly attempt?: number },
  reason: string,
  files?: ResultFiles,
): Promise<void> {
  const job = await store.getJobRecord(work.jobId);
  if (!job) {
    logger.warn('dead-lettered work for an unknown batch job dropped', { ...work });
    return;
  }
  if (work.attempt === undefined) {
    await endChunk(store, files, job, work.chunk, reason);
    logger.warn('dead-lettered chunk recorded', {
      jobId: job.jobId,
      chunk: work.chunk,
      principal: job.owner,
      model: job.model,
      reason,
    });
  } else await failRetryOf(store, files, job, work.chunk, work.attempt, reason);
  await settleEnd(store, files, job.jobId);
}

/**
 * What a job that a dead letter ended still lacks: its end completed (an earlier delivery may have
 * died first), and its share of its owner's window given up. This function sends no work, so the
 * owner's other jobs take up the share at their next release or stall check. A dead-lettered
 * submission's job may have no stall watch to do it: its fan-out may have died before starting one.
 */
async function settleEnd(store: BatchStore, files: ResultFiles | undefined, jobId: string): Promise<void> {
  const ended = await completeEnd(store, files, jobId);
  if (ended) await store.leavePacing(ended.owner, jobId);
}

/**
 * A dead-lettered chunk of retry `attempt`: its failed items stay failed (its result is recorded
 * as this attempt's, unchanged, unless the retry stored one first), and the chunk is counted out of
 * the retry once, so the job ends. Work of an earlier retry changes nothing.
 */
async function failRetryOf(
  store: BatchStore,
  files: ResultFiles | undefined,
  job: JobRecord,
  chunk: number,
  attempt: number,
  reason: string,
): Promise<void> {
  if (job.attempt !== attempt) return;
  const recorded = chunkResultsOf(store, files, job);
  let result = await recorded.get(chunk);
  if (!result) return;
  if (result.attempt !== attempt) {
    result = await recorded.putRetry({ chunk, results: result.results, attempt, recovered: 0 }, result);
    if (!result) return;
  }
  await countRetry(store, job, chunk, attempt, result.recovered ?? 0, files);
  logger.warn('dead-lettered retry chunk recorded', {
    jobId: job.jobId,
    chunk,
    attempt,
    principal: job.owner,
    model: job.model,
    reason,
  });
}

/**
 * Records a first-run chunk that no worker will run, unless it has a result already (which then
 * stays), and counts it once: its items fail with `reason`, or end cancelled when a cancel stopped
 * the chunk before it started, as the worker would have ended them. The items are not read: a chunk
 * of an input file names its item count, not its items (their ids stay in the file).
 */
export async function endChunk(
  store: BatchStore,
  files: ResultFiles | undefined,
  job: JobRecord,
  chunk: number,
  reason: string,
): Promise<void> {
  const recorded = chunkResultsOf(store, files, job);
  let result = await recorded.get(chunk);
  if (!result) {
    const stored = await store.getChunk(job, chunk);
    if (!stored) {
      logger.warn('work for an unknown chunk dropped', { jobId: job.jobId, chunk });
      return;
    }
    const run = await store.startChunk(job.jobId, chunk);
    result = await recorded.put({
      chunk,
      results: unrunResults(stored, run ? { error: reason } : undefined),
    });
  }
  await countResult(store, job, result, files);
}

/** A stored chunk's items without running them: each failed with `failure`, else cancelled. */
export function unrunResults(stored: StoredChunk, failure?: { readonly error: string }): ItemResult[] {
  const count = stored.range?.count ?? stored.items.length;
  return Array.from({ length: count }, (_, i): ItemResult => {
    const id = stored.items[i]?.id;
    return {
      index: stored.first + i,
      ...(id === undefined ? {} : { id }),
      ...(failure ?? { cancelled: true }),
    };
  });
}

/**
 * A submissions-queue message that SQS dead-lettered. If it names a job that it created (the API's
 * own `{ jobId }`, or an SQS submission whose owner and body are the job's), or is the job's live
 * stall check, that job may have fewer work messages than chunks or no check left: every chunk
 * without a result is recorded as failed, so the job ends. A message that created no job
 * (malformed, or naming another submission's job) changes nothing: it is logged, and the job it
 * names, if any, is its creator's.
 */
export async function failSubmission(
  store: BatchStore,
  message: { readonly messageId: string; readonly body: string },
  reason: string,
  files?: ResultFiles,
): Promise<void> {
  const job = await jobOfSubmission(store, message);
  if (!job) {
    logger.warn('dead-lettered submission created no job', { messageId: message.messageId, reason });
    return;
  }
  await failUnrecorded(store, job, storedMessageOf(message.body)?.retry, reason, files);
  await settleEnd(store, files, job.jobId);
}

/**
 * Records every chunk of the job (or of its retry `retry`) that has no outcome yet as failed with
 * `reason`, so the job ends; chunks recorded before keep their results. A scan of input files still
 * open ends where it is, with `reason` as the job's `statusReason`.
 */
export async function failUnrecorded(
  store: BatchStore,
  job: JobRecord,
  retry: number | undefined,
  reason: string,
  files?: ResultFiles,
): Promise<void> {
  if (TERMINAL_STATUSES.includes(job.status)) return;
  if (retry === undefined && job.scan) {
    const unread = `input ${job.scan.input} not read from line ${job.scan.line}: ${reason}`;
    if (await store.endScan(job.jobId, job.scan, unread)) {
      logger.warn('input scan ended before the end of its files', {
        jobId: job.jobId,
        principal: job.owner,
        model: job.model,
        ...job.scan,
        reason,
      });
    }
  }
  // A retry's message: that retry's chunks keep their results and are counted out of it.
  const chunks =
    retry === undefined ? Array.from({ length: job.chunks }, (_, chunk) => chunk) : job.retryChunks;
  const record = (chunk: number) =>
    retry === undefined
      ? endChunk(store, files, job, chunk, reason)
      : failRetryOf(store, files, job, chunk, retry, reason);
  await mapInFlight(chunks, CHUNK_CONCURRENCY, record);
  // Every chunk may have been counted before the scan ended: no count is left to finish the job.
  if (retry === undefined) await finishIfCounted(store, files, job.jobId);
}

/**
 * Why a dead-lettered submissions-queue message failed its job's unrecorded items, by what the
 * message was: the job's stall check, its scan's continuation, a retry's fan-out, or its submission.
 */
export function deadSubmissionReason(body: string): string {
  const failed = 'failed on every delivery and was dead-lettered';
  const message = storedMessageOf(body);
  if (message?.watch) return `the job's stall check ${failed}, so the job ended rather than run unwatched`;
  if (message?.scan) return `the scan of the job's input files ${failed}`;
  if (message?.retry) return `the retry's fan-out ${failed} before all its work was queued`;
  return `the submission ${failed} before all its work was queued`;
}

/** The body as a message for a stored job (`{ jobId, retry?, scan?, watch? }`), if it is one. */
function storedMessageOf(body: string): z.infer<typeof StoredJobMessageSchema> | undefined {
  try {
    const parsed = StoredJobMessageSchema.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function jobOfSubmission(
  store: BatchStore,
  message: { readonly messageId: string; readonly body: string },
): Promise<JobRecord | undefined> {
  let body: unknown;
  try {
    body = JSON.parse(message.body);
  } catch {
    return undefined;
  }
  const stored = StoredJobMessageSchema.safeParse(body);
  if (stored.success) {
    const job = await store.getJobRecord(stored.data.jobId);
    // A check is the job's only while it is the live one: any other (a sender's, an ended chain's)
    // left the job watched by its own.
    const { watch } = stored.data;
    return job && watch && !isLiveCheck(job, watch, message.messageId) ? undefined : job;
  }
  const submission = SubmissionMessageSchema.safeParse(body);
  if (!submission.success) return undefined;
  const { owner, jobId, ...rest } = submission.data;
  const job = await store.getJobRecord(jobId ?? message.messageId);
  return job?.owner === owner && job.fingerprint === fingerprintOf(rest) ? job : undefined;
}

/**
 * Whether a dead-lettered stall check is the job's live one: it holds the chain's token, or it passed
 * the chain on and may have died before sending the next check. Only then is the job left unwatched.
 */
function isLiveCheck(job: JobRecord, watch: CheckWatch, messageId: string): boolean {
  if (!job.watch) return false;
  return ('token' in watch && watch.token === job.watch.token) || job.watch.by === messageId;
}
