/**
 * The stall check of a running job: a message on the submissions queue, sent again with a delay
 * until the job ends. A job whose `updatedAt` (moved by every chunk counted, cancel and retry) has
 * not changed for the stall timeout ends: every chunk without an outcome is recorded as failed with
 * the reason, through the same exactly-once accounting as the worker's.
 *
 * Anyone who may send to the submissions queue can send a message shaped like a check, so a check
 * acts only while it holds the token the job stores for its one chain of checks (`StallWatch`), and
 * judges stillness by the job's stored state alone. Each check passes the chain on under a new token
 * in a conditional write, so of any number of copies of one check (SQS duplicates, redeliveries) one
 * goes on and the rest do nothing.
 */
import { randomUUID } from 'node:crypto';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { METRIC } from '../../contracts/metric-catalog';
import { logger } from '../observability/logger';
import { publishEvent } from '../observability/metrics';
import { completeEndOf } from './accounting';
import { TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, JobRecord, StallWatch } from './batch-store';
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

/** A check message's `watch`: the chain's token, or a check sent before checks carried one. */
export type CheckWatch = { readonly token: string } | { readonly updatedAt: string; readonly since: number };

/** How often a job is checked: twice per stall timeout, and at least every five minutes. */
export function checkInterval(stallTimeoutSeconds: number): number {
  return Math.min(MAX_CHECK_INTERVAL_SECONDS, Math.max(1, Math.ceil(stallTimeoutSeconds / 2)));
}

/**
 * Starts watching a job that the fan-out of message `messageId` has just queued (its first run or
 * a retry), unless its chain of checks exists: every fan-out of one job (a repeated or forged
 * message, a repeated submission) leaves one chain, its clock started by the first.
 */
export async function startWatch(
  deps: StallWatchDependencies,
  job: JobRecord,
  messageId: string,
): Promise<void> {
  if (job.watch) return resendOwnCheck(deps, job, messageId);
  const now = (deps.now ?? Date.now)();
  await passOn(deps, job, undefined, { updatedAt: job.updatedAt, since: now }, messageId);
}

/**
 * One check, the handling of message `messageId`: nothing unless it holds the job's token. Then
 * nothing more when the job has ended; the next check when it progressed, or has not yet been still
 * for the stall timeout; otherwise the job ends, its unrecorded items failed. A retry removes the
 * token, so a check of an earlier attempt holds none.
 */
export async function checkJob(
  deps: StallWatchDependencies,
  message: { readonly jobId: string; readonly retry?: number; readonly watch: CheckWatch },
  messageId: string,
): Promise<void> {
  const job = await deps.store.getJobRecord(message.jobId);
  if (!job) return;
  if (!('token' in message.watch)) {
    // Sent before checks carried a token: it starts the chain the job's fan-out started none of,
    // its clock from now, as that fan-out would have.
    if (job.status === 'RUNNING' && (message.retry ?? 0) === job.attempt)
      await startWatch(deps, job, messageId);
    return;
  }
  const watch = job.watch;
  if (watch?.token !== message.watch.token) return resendOwnCheck(deps, job, messageId);
  // A job ended by the dead-letter consumer (which sends no work): the owner's other jobs take up
  // its share here, and its end is published if no one has yet.
  if (TERMINAL_STATUSES.includes(job.status)) {
    await completeEndOf(deps.store, deps.resultFiles, job);
    return await deps.release?.(job.jobId);
  }
  const paced = await pacedWithoutGoneJobs(deps, job);
  await deps.release?.(job.jobId, message.retry);
  const now = (deps.now ?? Date.now)();
  const movedNow = { updatedAt: job.updatedAt, since: now };
  // A job must end within its run deadline, or TTL could take the data it still uses (docs/batch.md).
  const overdue = now >= deps.store.runDeadline(job.createdAt);
  if (job.updatedAt !== watch.updatedAt && !overdue)
    return passOn(deps, job, watch.token, movedNow, messageId);
  // Queued behind its owner's other jobs: its clock starts when it gets a share.
  if (!overdue && waitingForShare(deps, job, paced))
    return passOn(deps, job, watch.token, movedNow, messageId);
  const stillSeconds = Math.floor((now - watch.since) / 1000);
  if (stillSeconds < deps.stallTimeoutSeconds && !overdue)
    return passOn(deps, job, watch.token, watch, messageId);
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

/**
 * Passes the job's chain on from `from` (none: it starts) to a new token, then sends the check that
 * holds it. Written before the send, so the check never arrives before its token; a message that
 * dies between the two is redelivered and sends the check then (`resendOwnCheck`).
 */
async function passOn(
  deps: StallWatchDependencies,
  job: JobRecord,
  from: string | undefined,
  still: Pick<StallWatch, 'updatedAt' | 'since'>,
  messageId: string,
): Promise<void> {
  const next = { token: randomUUID(), by: messageId, updatedAt: still.updatedAt, since: still.since };
  if (await deps.store.passWatch(job.jobId, from, next)) await send(deps, job, next.token);
}

/**
 * Sends the chain's current check again when this message set its token: a delivery of it that
 * died after the write may not have sent it. Another copy of the check may exist then; of the two,
 * the first passes the chain on and the other finds the token gone.
 */
async function resendOwnCheck(
  deps: StallWatchDependencies,
  job: JobRecord,
  messageId: string,
): Promise<void> {
  if (job.watch?.by === messageId) await send(deps, job, job.watch.token);
}

async function send(deps: StallWatchDependencies, job: JobRecord, token: string): Promise<void> {
  const body = { jobId: job.jobId, ...(job.attempt > 0 ? { retry: job.attempt } : {}), watch: { token } };
  await deps.sqs.send(
    new SendMessageCommand({
      QueueUrl: deps.submissionsQueueUrl,
      MessageBody: JSON.stringify(body),
      DelaySeconds: checkInterval(deps.stallTimeoutSeconds),
    }),
  );
}
