import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { NotFoundError } from '../edge/errors';
import { TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore } from './batch-store';

/** Work-message batches in flight at once during a fan-out. */
const SEND_CONCURRENCY = 8;

/**
 * Sends one work message per chunk and marks the job RUNNING. Safe to repeat: a duplicate work
 * message finds its chunk's result already recorded and counted.
 */
export async function enqueueWork(
  deps: { readonly store: BatchStore; readonly sqs: Pick<SQSClient, 'send'>; readonly workQueueUrl: string },
  jobId: string,
): Promise<void> {
  const job = await deps.store.getJob(jobId);
  if (!job) throw new NotFoundError(`batch job '${jobId}' is not found`);
  if (TERMINAL_STATUSES.includes(job.status)) return;
  const sendBatch = async (first: number) => {
    const entries = Array.from({ length: Math.min(10, job.chunks - first) }, (_, i) => ({
      Id: String(first + i),
      MessageBody: JSON.stringify({ jobId, chunk: first + i }),
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
  const firsts = Array.from({ length: Math.ceil(job.chunks / 10) }, (_, i) => i * 10);
  for (let i = 0; i < firsts.length; i += SEND_CONCURRENCY) {
    await Promise.all(firsts.slice(i, i + SEND_CONCURRENCY).map(sendBatch));
  }
  await deps.store.markRunning(jobId);
}
