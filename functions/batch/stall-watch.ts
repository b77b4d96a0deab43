/**
 * The stall check of a running job: a message on the submissions queue, sent again with a delay
 * until the job ends. A job whose `updatedAt` (moved by every chunk counted, cancel and retry) has
 * not changed for the stall timeout ends: every chunk without an outcome is recorded as failed with
 * the reason, through the same exactly-once accounting as the worker's.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { METRIC } from '../../contracts/metric-catalog';
import { logger } from '../observability/logger';
import { publishEvent } from '../observability/metrics';
import { completeEndOf } from './accounting';
import { TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, JobRecord } from './batch-store';
import { failUnrecorded } from './dead-letters';
import { shareOf } from './fan-out';
import type { ResultFiles } from './result-parts';

/**
 * The longest wait between two checks; SQS allows 900 s per message, but a check waiting that long
 * would be as old as the submissions queue's default oldest-message alarm threshold.
 */
const MAX_CHECK_INTERVAL_SECONDS = 300;

export interface StallWatchDependencies {
  readonly store: BatchStore;
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly submissionsQueueUrl: string;
  /** How long a running job may go without progress before it ends. */
  readonly stallTimeoutSeconds: number;
  /**
   * Tops the job's work up to its share of its owner's window (`releaseWork`) at every check, for a
   * chunk counted without a release (one dead-lettered and counted by the dead-letter consumer), and
   * takes an ended job out of the owner's window.
   */
  readonly release?: (jobId: string, retry?: number) => Promise<void>;
  /**
   * The owner's window (`FanOutDependencies.window`): a job with no share of it and nothing of its
   * own in flight is waiting for its owner's other jobs, not stalled.
   */
  readonly window?: number;
  /** Where S3 jobs' result parts go, for the chunks a stall fails. */
  readonly resultFiles?: ResultFiles;
  readonly now?: () => number;
}

export interface Watch {
  readonly updatedAt: string;
  readonly since: number;
}

/** How often a job is checked: twice per stall timeout, and at least every five minutes. */
export function checkInterval(stallTimeoutSeconds: number): number {
  return Math.min(MAX_CHECK_INTERVAL_SECONDS, Math.max(1, Math.ceil(stallTimeoutSeconds / 2)));
}

/** Starts watching a job that its fan-out has just queued (attempt `retry`, or its first run). */
export async function startWatch(deps: StallWatchDependencies, job: JobRecord): Promise<void> {
  const now = (deps.now ?? Date.now)();
  await send(deps, job, { updatedAt: job.updatedAt, since: now });
}

/**
 * One check: nothing when the job has ended or a retry has moved it on (that retry is watched on
 * its own); the next check when it progressed, or has not yet been still for the stall timeout;
 * otherwise the job ends, its unrecorded items failed.
 */
export async function checkJob(
  deps: StallWatchDependencies,
  message: { readonly jobId: string; readonly retry?: number; readonly watch: Watch },
): Promise<void> {
  const job = await deps.store.getJobRecord(message.jobId);
  if (!job) return;
  // A job ended by the dead-letter consumer (which sends no work): the owner's other jobs take up
  // its share here, and its end is published if no one has yet.
  if (TERMINAL_STATUSES.includes(job.status)) {
    await completeEndOf(deps.store, deps.resultFiles, job);
    return await deps.release?.(job.jobId);
  }
  if ((message.retry ?? 0) !== job.attempt) return;
  const paced = await pacedWithoutGoneJobs(deps, job);
  await deps.release?.(job.jobId, message.retry);
  const now = (deps.now ?? Date.now)();
  // A job must end within its run deadline, or TTL could take the data it still uses (docs/batch.md).
  const overdue = now >= deps.store.runDeadline(job.createdAt);
  if (job.updatedAt !== message.watch.updatedAt && !overdue) {
    await send(deps, job, { updatedAt: job.updatedAt, since: now });
    return;
  }
  // Queued behind its owner's other jobs: its clock starts when it gets a share.
  if (!overdue && waitingForShare(deps, job, paced)) {
    await send(deps, job, { updatedAt: job.updatedAt, since: now });
    return;
  }
  const stillSeconds = Math.floor((now - message.watch.since) / 1000);
  if (stillSeconds < deps.stallTimeoutSeconds && !overdue) {
    await send(deps, job, message.watch);
    return;
  }
  const reason = overdue
    ? 'the job ran past its deadline of one batch retention period after its submission'
    : `the job made no progress for ${stillSeconds} s, longer than the batch stall timeout of ${deps.stallTimeoutSeconds} s`;
  logger.error('stalled batch job ended', {
    jobId: job.jobId,
    principal: job.owner,
    model: job.model,
    attempt: job.attempt,
    stillSeconds,
  });
  publishEvent(METRIC.batchJobsStalled, MetricUnit.Count, 1, { model: job.model });
  await failUnrecorded(deps.store, job, message.retry, reason, deps.resultFiles);
  await deps.release?.(job.jobId, message.retry);
}

/**
 * The owner's paced jobs, less those that no longer exist when this job has no share: a job gone
 * while still paced (deleted before the release that would have taken it out) holds a share no
 * release gives back, since every release finds it gone; and a job with no share is never ended as
 * stalled, only at its deadline. Deletion takes its job out itself; this is the watch's guard.
 */
async function pacedWithoutGoneJobs(
  deps: StallWatchDependencies,
  job: JobRecord,
): Promise<readonly string[] | undefined> {
  if (deps.window === undefined) return undefined;
  let paced = await deps.store.pacedJobs(job.owner);
  if (shareOf(job.jobId, paced, deps.window) > 0) return paced;
  for (const other of paced) {
    if (other !== job.jobId && !(await deps.store.getJobRecord(other))) {
      paced = await deps.store.leavePacing(job.owner, other);
    }
  }
  return paced;
}

/**
 * Whether the job has no share of its owner's window (more paced jobs than the window, this one past
 * it) and no chunk sent and not yet counted: nothing of it can move until another job ends.
 */
function waitingForShare(
  deps: StallWatchDependencies,
  job: JobRecord,
  paced: readonly string[] | undefined,
): boolean {
  if (deps.window === undefined || paced === undefined || job.sent > job.counted) return false;
  return shareOf(job.jobId, paced, deps.window) === 0;
}

async function send(deps: StallWatchDependencies, job: JobRecord, watch: Watch): Promise<void> {
  const body = { jobId: job.jobId, ...(job.attempt > 0 ? { retry: job.attempt } : {}), watch };
  await deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: deps.submissionsQueueUrl,
      MessageBody: JSON.stringify(body),
      DelaySeconds: checkInterval(deps.stallTimeoutSeconds),
    }),
  );
}
