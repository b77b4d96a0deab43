import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { NotFoundError } from '../edge/errors';
import { logger } from '../observability/logger';
import { completeEndOf } from './accounting';
import { TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, JobRecord } from './batch-store';
import { endChunk } from './dead-letters';
import { mapInFlight } from './in-flight';
import { type ScanDependencies, scanInputs } from './input-scan';
import type { ResultFiles } from './result-parts';

/** SendMessageBatch's most entries. */
const SEND_BATCH_ENTRIES = 10;
/**
 * How long a release holds a job's sending before another may take over: one SendMessageBatch and
 * one write take well under a second, so a holder still without its write after this died.
 */
const RELEASE_LEASE_MS = 5_000;
/** Chunks of a cancelled job recorded at once. */
const CANCEL_CONCURRENCY = 8;
/** Chunks of a cancelled job ended under one lease: a few writes each, well within the lease. */
const CANCEL_PER_LEASE = 64;
/** How often a release waiting for another's lease looks at the job again. */
const LEASE_POLL_MS = 100;

export interface FanOutDependencies {
  readonly store: BatchStore;
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly workQueueUrl: string;
  /**
   * The most chunks of one owner's jobs sent and not yet counted. The work queue is shared and
   * delivers roughly in order, so a job queued behind others waits for at most this many of each
   * owner's chunks rather than for whole jobs.
   */
  readonly window: number;
  /** Where S3 jobs' result parts go, for the chunks a cancel stops before they are sent. */
  readonly resultFiles?: ResultFiles;
  /** @default RELEASE_LEASE_MS */
  readonly releaseLeaseMs?: number;
  /** Epoch milliseconds, for release leases. */
  readonly now?: () => number;
}

/**
 * Sends the first chunks of a job's work (of its retry `retry`, or its first run) within its share
 * of its owner's window and marks the job RUNNING; finished chunks release the rest (`releaseWork`).
 * Safe to repeat: a duplicate work message finds its chunk's result already recorded and counted.
 * Returns the job when it is running this attempt.
 */
export async function enqueueWork(
  deps: FanOutDependencies,
  jobId: string,
  retry?: number,
): Promise<JobRecord | undefined> {
  const job = await deps.store.getJobRecord(jobId);
  if (!job) throw new NotFoundError(`batch job '${jobId}' is not found`);
  if (TERMINAL_STATUSES.includes(job.status)) {
    // Ended by this message's earlier delivery (its scan, or the cancel of its chunks), which may
    // have died before the end was complete or the job left its owner's window.
    await completeEndOf(deps.store, deps.resultFiles, job);
    await releaseWork(deps, jobId);
    return undefined;
  }
  // A retry queues its own chunks, each message naming the attempt; a message of an earlier retry
  // finds the job moved on and sends nothing.
  if ((retry ?? 0) !== job.attempt) return undefined;
  const paced = await deps.store.joinPacing(job.owner, jobId);
  await topUp(deps, job, paced);
  await deps.store.markRunning(jobId);
  return job;
}

/**
 * The fan-out of a stored job's message (its first run, or its retry `retry`): queues its first
 * chunks, starts its stall watch (`watch`) and, for a job of input files, scans them. The scan runs
 * also when it has ended: an earlier delivery may have died before finishing after it.
 */
export async function fanOutJob(
  deps: FanOutDependencies,
  scan: ScanDependencies,
  jobId: string,
  retry?: number,
  watch?: (job: JobRecord) => Promise<void>,
): Promise<void> {
  const queued = await enqueueWork(deps, jobId, retry);
  if (queued) await watch?.(queued);
  if (queued?.inputs) await scanInputs(scan, jobId);
}

/**
 * Called after each chunk is counted, by any delivery of it (a redelivery after a crash included),
 * and by the stall check, so a release that was lost is made by the next one. A running job is
 * topped up to its share of the owner's window; a job that ended leaves its owner's paced jobs and
 * its share goes to the others. `counted`, the job as the caller's count left it, saves reading it
 * again: it is as fresh as a read made then, and the top-up's writes are conditional on what it says.
 */
export async function releaseWork(
  deps: FanOutDependencies,
  jobId: string,
  retry?: number,
  counted?: JobRecord,
): Promise<void> {
  const job = counted ?? (await deps.store.getJobRecord(jobId));
  if (!job) return;
  if (TERMINAL_STATUSES.includes(job.status)) {
    const others = await deps.store.leavePacing(job.owner, jobId);
    for (const other of others) {
      const next = await deps.store.getJobRecord(other);
      if (next) await topUp(deps, next, others);
    }
    return;
  }
  if ((retry ?? 0) !== job.attempt) return;
  await topUp(deps, job, await deps.store.pacedJobs(job.owner));
}

/**
 * One owner's window shared between its paced jobs: equal shares, the remainder to the first jobs
 * in a fixed order, so the shares add up to the window. With more jobs than the window, the jobs
 * past it wait for a share: they get one as others end.
 */
export function shareOf(jobId: string, paced: readonly string[], window: number): number {
  const jobs = paced.includes(jobId) ? paced : [...paced, jobId];
  const rank = jobs.indexOf(jobId);
  return Math.floor(window / jobs.length) + (rank < window % jobs.length ? 1 : 0);
}

/**
 * Sends the job's next chunks while it has fewer than its share sent and not yet counted. Only the
 * release holding the job's lease sends: it sends, then records the chunks sent and gives the lease
 * up in one conditional write, whose answer is the job as it left it. A release that finds the
 * lease held waits until it is given up or runs out, then looks again, so a count is released even
 * when the holder died. A holder that dies between its send and its write leaves the lease to run out: the next
 * release sends those chunks again, which accounting counts once.
 */
async function topUp(deps: FanOutDependencies, first: JobRecord, paced: readonly string[]): Promise<void> {
  const now = deps.now ?? Date.now;
  const share = shareOf(first.jobId, paced, deps.window);
  let job: JobRecord | undefined = first;
  let cancelledHere = false;
  while (job && !TERMINAL_STATUSES.includes(job.status) && job.attempt === first.attempt) {
    const plan = planOf(job);
    // After a cancel no chunk can start, so the unsent ones are ended here rather than sent.
    const stopping = job.cancelRequestedAt !== undefined && job.attempt === 0;
    const until = stopping
      ? Math.min(plan.length, job.sent + CANCEL_PER_LEASE)
      : Math.min(plan.length, job.counted + share, job.sent + SEND_BATCH_ENTRIES);
    if (job.sent >= until) return;
    const at = now();
    if (job.releasing && job.releasing.untilMs >= at) {
      // Held: the holder sends what this count allows unless it died, so wait for it to give the
      // lease up (or for the lease to run out) and look again.
      await setTimeout(Math.min(LEASE_POLL_MS, job.releasing.untilMs - at + 1));
      job = await deps.store.getJobRecord(first.jobId);
      continue;
    }
    const lease = { token: randomUUID(), untilMs: at + (deps.releaseLeaseMs ?? RELEASE_LEASE_MS) };
    let claimed: JobRecord | undefined;
    if (await deps.store.leaseRelease(job.jobId, job.attempt, job.sent, lease, at)) {
      try {
        if (stopping) {
          await cancelUnsent(deps, job, plan.slice(job.sent, until));
          cancelledHere = true;
        } else await send(deps, job, plan.slice(job.sent, until));
      } catch (error) {
        await deps.store.dropRelease(job.jobId, job.attempt, job.sent, lease.token);
        throw error;
      }
      claimed = await deps.store.claimSent(job.jobId, job.attempt, job.sent, until, lease.token);
    }
    // The claim's write answers with the job as it left it; otherwise look again.
    job = claimed ?? (await deps.store.getJobRecord(first.jobId));
  }
  // A job its cancelled chunks ended has no worker left to release it: it leaves its owner's window
  // here, and its share goes to the owner's other jobs.
  if (cancelledHere && job && TERMINAL_STATUSES.includes(job.status)) await releaseWork(deps, job.jobId);
}

/**
 * Records the chunks of a cancelled job that were never sent as cancelled, and counts them, without
 * a work message or a read of their items. A chunk a dead release sent (sent, not recorded as sent)
 * that a worker started before the cancel is left to that worker.
 */
async function cancelUnsent(deps: FanOutDependencies, job: JobRecord, chunks: readonly number[]) {
  const unstarted = chunks.filter((chunk) => !job.started.has(chunk));
  await mapInFlight(unstarted, CANCEL_CONCURRENCY, (chunk) =>
    endChunk(deps.store, deps.resultFiles, job, chunk, 'cancelled'),
  );
  logger.info('unsent chunks of a cancelled job ended cancelled', {
    jobId: job.jobId,
    principal: job.owner,
    model: job.model,
    chunks: unstarted.length,
  });
}

/** The current attempt's chunks in the order their work is sent. */
function planOf(job: JobRecord): readonly number[] {
  return job.attempt === 0 ? Array.from({ length: job.chunks }, (_, i) => i) : job.retryPlan;
}

async function send(deps: FanOutDependencies, job: JobRecord, chunks: readonly number[]): Promise<void> {
  const entries = chunks.map((chunk) => ({
    Id: String(chunk),
    MessageBody: JSON.stringify(
      job.attempt === 0 ? { jobId: job.jobId, chunk } : { jobId: job.jobId, chunk, attempt: job.attempt },
    ),
  }));
  const { Failed = [] } = await deps.sqs.send(
    new SendMessageBatchCommand({ QueueUrl: deps.workQueueUrl, Entries: entries }),
  );
  if (Failed.length > 0) {
    throw new Error(
      `${Failed.length} work messages of job ${job.jobId} were not sent: ${Failed[0]?.Message ?? ''}`,
    );
  }
}
