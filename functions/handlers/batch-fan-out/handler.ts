import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { $ZodError } from 'zod/v4/core';
import { FUNCTIONS } from '../../../contracts/functions';
import { StoredJobMessageSchema, SubmissionMessageSchema } from '../../batch/api-schemas';
import { fanOutJob, releaseWork } from '../../batch/fan-out';
import { scanInputs } from '../../batch/input-scan';
import { batchData, modelCache, pacingOf, store } from '../../batch/queue-runtime';
import { redeliverAfterBackoff } from '../../batch/redelivery';
import { checkJob, startWatch } from '../../batch/stall-watch';
import { submitJob } from '../../batch/submission';
import { instrument } from '../../observability/instrument';
import { logger } from '../../observability/logger';
import { sqs } from '../../sqs';

const env = FUNCTIONS.batchFanOut.environment.parse(process.env);

const pacing = pacingOf(env);

const watching = {
  store,
  sqs,
  submissionsQueueUrl: env.SUBMISSIONS_QUEUE_URL,
  stallTimeoutSeconds: env.BATCH_STALL_TIMEOUT_SECONDS,
  release: (jobId: string, retry?: number) => releaseWork(pacing, jobId, retry),
  window: pacing.window,
  resultFiles: batchData,
};

/** A message that goes on with a job's scan of its input files, in another invocation. */
const continueScan = async (jobId: string) => {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: env.SUBMISSIONS_QUEUE_URL,
      MessageBody: JSON.stringify({ jobId, scan: true }),
    }),
  );
};

const scanning = (context: Context | undefined) => ({
  store,
  inputs: batchData,
  resultFiles: batchData,
  models: modelCache,
  release: (jobId: string) => releaseWork(pacing, jobId),
  continueLater: continueScan,
  // Without a context (never in Lambda), the function's whole timeout is assumed left.
  remainingMs: () => context?.getRemainingTimeInMillis() ?? Number.POSITIVE_INFINITY,
});

const processor = new BatchProcessor(EventType.SQS);

/**
 * One submissions-queue message: a job's stall check (`{ jobId, watch }`), the continuation of a
 * job's scan of its input files (`{ jobId, scan }`), a job the API stored (`{ jobId }`), or a whole
 * submission from an
 * SQS client, which is checked and stored here first (its job id is its `jobId`, else the message
 * id, so a redelivered message names the same job). Either way the job's chunks go to the work queue.
 */
async function fanOut(record: SQSRecord, context?: Context): Promise<void> {
  try {
    const body = JSON.parse(record.body) as unknown;
    const stored = StoredJobMessageSchema.safeParse(body);
    let jobId: string;
    let retry: number | undefined;
    if (stored.success && stored.data.watch) {
      await checkJob(watching, { ...stored.data, watch: stored.data.watch }, record.messageId);
      return;
    }
    if (stored.success && stored.data.scan) {
      await scanInputs(scanning(context), stored.data.jobId);
      return;
    }
    if (stored.success) {
      ({ jobId, retry } = stored.data);
    } else {
      const message = SubmissionMessageSchema.parse(body);
      jobId = message.jobId ?? record.messageId;
      const { owner, jobId: _, ...submission } = message;
      await submitJob(store, modelCache, { owner, jobId, submission });
    }
    // Until the job ends, a delayed check on this queue ends it if it stops making progress.
    await fanOutJob(pacing, scanning(context), jobId, retry, (job) =>
      startWatch(watching, job, record.messageId),
    );
  } catch (error) {
    // Reported as this record's failure: SQS retries it, after a backoff rather than the queue's half
    // hour, and after maxReceiveCount deliveries dead-letters it.
    logger.error('submission not processed', { messageId: record.messageId, reason: reasonOf(error) });
    await redeliverAfterBackoff(sqs, env.SUBMISSIONS_QUEUE_URL, record);
    throw error;
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof $ZodError)
    return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return error instanceof Error ? error.message : String(error);
}

export const handler = instrument(
  (event: SQSEvent, context: Context) =>
    processPartialResponse(event, fanOut, processor, { context, throwOnFullBatchFailure: false }),
  { requestMetrics: false },
);
