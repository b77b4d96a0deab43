/**
 * The event a batch job publishes when it ends, so that callers need not poll. At least once: the
 * job item records `notifiedAt` after the event is sent, and whoever next sees the job ended without
 * it (a redelivered last chunk, a dead letter, the stall watch's last check) sends it again.
 * Consumers dedupe on `jobId` and `attempt` (docs/batch.md, "Job ended event").
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { BATCH_EVENT_BUS_NAME } from '../../contracts/environment-variables';
import { tracer } from '../observability/tracer';
import { TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, JobRecord } from './batch-store';

export const JOB_EVENT_SOURCE = 'inference-platform.batch';
export const JOB_ENDED_DETAIL_TYPE = 'Batch Job Ended';

/** The `detail` of a job-ended event. */
export interface JobEndedDetail {
  readonly jobId: string;
  readonly owner: string;
  readonly model: string;
  readonly version: string;
  readonly status: string;
  /** 0 for the first run, n for the job's n-th retry: each end of a job is an event of its own. */
  readonly attempt: number;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly createdAt: string;
  readonly completedAt: string;
}

/** Sends one event to the bus; rejects unless EventBridge accepted it. */
export type EventSender = (detail: JobEndedDetail) => Promise<void>;

let client: EventBridgeClient | undefined;

/**
 * The functions' sender: PutEvents on the bus `BATCH_EVENT_BUS_NAME` names. Undefined without one:
 * the catalogue requires the bus of every function that can end a job, so only code run outside
 * them (tests of other concerns) has none, and then publishes and records nothing.
 */
export function busSender(): EventSender | undefined {
  const bus = process.env[BATCH_EVENT_BUS_NAME];
  if (!bus) return undefined;
  return async (detail) => {
    client ??= tracer.captureAWSv3Client(new EventBridgeClient({}));
    const { FailedEntryCount = 0, Entries = [] } = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: bus,
            Source: JOB_EVENT_SOURCE,
            DetailType: JOB_ENDED_DETAIL_TYPE,
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    // PutEvents answers 200 with the entries it failed; such an entry was not sent.
    if (FailedEntryCount > 0) {
      throw new Error(
        `the job-ended event was not sent: ${Entries[0]?.ErrorCode} ${Entries[0]?.ErrorMessage}`,
      );
    }
  };
}

/**
 * Publishes the end of the job, as read, if it has ended and that end's event is not recorded as
 * sent, then records it (`completeEnd` calls it for whoever ended the job, or later finds it ended).
 */
export async function notifyJobEnded(
  store: BatchStore,
  job: JobRecord,
  send: EventSender | undefined = busSender(),
): Promise<void> {
  if (!send) return;
  if (!TERMINAL_STATUSES.includes(job.status) || job.notifiedAt || !job.completedAt) return;
  await send(detailOf(job, job.completedAt));
  await store.markNotified(job.jobId, job.completedAt);
}

function detailOf(job: JobRecord, completedAt: string): JobEndedDetail {
  return {
    jobId: job.jobId,
    owner: job.owner,
    model: job.model,
    version: job.version,
    status: job.status,
    attempt: job.attempt,
    total: job.total,
    succeeded: job.succeeded,
    failed: job.failed,
    cancelled: job.cancelled,
    createdAt: job.createdAt,
    completedAt,
  };
}
