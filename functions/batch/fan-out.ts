import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { NotFoundError } from '../edge/errors';
import { TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, JobRecord } from './batch-store';

/** SendMessageBatch's most entries. */
const SEND_BATCH_ENTRIES = 10;
/** Work-message batches in flight at once during an unpaced fan-out. */
const SEND_CONCURRENCY = 8;

export interface FanOutDependencies {
  readonly store: BatchStore;
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly workQueueUrl: string;
  /**
   * The most chunks of one job sent and not yet counted. The work queue is shared and delivers
   * roughly in order, so a job queued behind others waits for at most this many of each job's
   * chunks rather than for whole jobs. Unset, a job's chunks are all sent at once.
   */
  readonly window?: number;
}

/**
 * Sends the first window of a job's work (of its retry `retry`, or its first run) and marks the
 * job RUNNING; finished chunks release the rest (`releaseWork`). Safe to repeat: a duplicate work
 * message finds its chunk's result already recorded and counted. Returns the job when it is
 * running this attempt.
 */
export async function enqueueWork(
  deps: FanOutDependencies,
  jobId: string,
  retry?: number,
): Promise<JobRecord | undefined> {
  const job = await deps.store.getJobRecord(jobId);
  if (!job) throw new NotFoundError(`batch job '${jobId}' is not found`);
  if (TERMINAL_STATUSES.includes(job.status)) return undefined;
  // A retry queues its own chunks, each message naming the attempt; a message of an earlier retry
  // finds the job moved on and sends nothing.
  if ((retry ?? 0) !== job.attempt) return undefined;
  if (deps.window === undefined) await sendAll(deps, job);
  else await releaseWork({ ...deps, window: deps.window }, jobId, retry);
  await deps.store.markRunning(jobId);
  return job;
}

/**
 * Tops the job's sent-and-uncounted chunks up to the window: called after each chunk is counted,
 * by any delivery of it (a redelivery after a crash included), and by the stall check, so a release
 * that was lost is made by the next one. Each chunk is sent before the job records it sent, with a
 * conditional write: of releasers racing, one records it and the others read again; a crash between
 * the send and the write sends the chunk again later, which accounting counts once.
 */
export async function releaseWork(
  deps: FanOutDependencies & { readonly window: number },
  jobId: string,
  retry?: number,
): Promise<void> {
  for (;;) {
    const job = await deps.store.getJobRecord(jobId);
    if (!job || TERMINAL_STATUSES.includes(job.status) || (retry ?? 0) !== job.attempt) return;
    const plan = planOf(job);
    const until = Math.min(plan.length, job.counted + deps.window, job.sent + SEND_BATCH_ENTRIES);
    if (job.sent >= until) return;
    await send(deps, job, plan.slice(job.sent, until));
    await deps.store.claimSent(jobId, job.attempt, job.sent, until);
  }
}

/** The current attempt's chunks in the order their work is sent. */
function planOf(job: JobRecord): readonly number[] {
  return job.attempt === 0 ? Array.from({ length: job.chunks }, (_, i) => i) : job.retryPlan;
}

async function sendAll(deps: FanOutDependencies, job: JobRecord): Promise<void> {
  const plan = planOf(job);
  // SendMessageBatch takes 10 messages; a few batches in flight keep a large job's fan-out short.
  const firsts = Array.from(
    { length: Math.ceil(plan.length / SEND_BATCH_ENTRIES) },
    (_, i) => i * SEND_BATCH_ENTRIES,
  );
  for (let i = 0; i < firsts.length; i += SEND_CONCURRENCY) {
    await Promise.all(
      firsts
        .slice(i, i + SEND_CONCURRENCY)
        .map((first) => send(deps, job, plan.slice(first, first + SEND_BATCH_ENTRIES))),
    );
  }
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
