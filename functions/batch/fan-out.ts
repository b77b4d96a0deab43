import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { NotFoundError } from '../edge/errors';
import { TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, JobRecord } from './batch-store';

/** Work-message batches in flight at once during a fan-out. */
const SEND_CONCURRENCY = 8;

/**
 * Sends one work message per chunk and marks the job RUNNING. Safe to repeat: a duplicate work
 * message finds its chunk's result already recorded and counted. Returns the job when it queued
 * its work.
 */
export async function enqueueWork(
  deps: { readonly store: BatchStore; readonly sqs: Pick<SQSClient, 'send'>; readonly workQueueUrl: string },
  jobId: string,
  retry?: number,
): Promise<JobRecord | undefined> {
  const job = await deps.store.getJobRecord(jobId);
  if (!job) throw new NotFoundError(`batch job '${jobId}' is not found`);
  if (TERMINAL_STATUSES.includes(job.status)) return undefined;
  // A retry queues its own chunks, each message naming the attempt; a message of an earlier retry
  // finds the job moved on and sends nothing.
  if (retry !== undefined && retry !== job.attempt) return undefined;
  const chunks = retry === undefined ? Array.from({ length: job.chunks }, (_, i) => i) : job.retryChunks;
  const sendBatch = async (first: number) => {
    const entries = chunks.slice(first, first + 10).map((chunk) => ({
      Id: String(chunk),
      MessageBody: JSON.stringify(retry === undefined ? { jobId, chunk } : { jobId, chunk, attempt: retry }),
    }));
    const { Failed = [] } = await deps.sqs.send(
      new SendMessageBatchCommand({ QueueUrl: deps.workQueueUrl, Entries: entries }),
    );
    if (Failed.length > 0) {
      throw new Error(
        `${Failed.length} work messages of job ${jobId} were not sent: ${Failed[0]?.Message ?? ''}`,
      );
    }
  };
  // SendMessageBatch takes 10 messages; a few batches in flight keep a large job's fan-out short.
  const firsts = Array.from({ length: Math.ceil(chunks.length / 10) }, (_, i) => i * 10);
  for (let i = 0; i < firsts.length; i += SEND_CONCURRENCY) {
    await Promise.all(firsts.slice(i, i + SEND_CONCURRENCY).map(sendBatch));
  }
  await deps.store.markRunning(jobId);
  return job;
}
