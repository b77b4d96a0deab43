/** Deleting a finished job and all its data, at its owner's request. */
import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { batchResultsPrefix } from '../../contracts/batch-data';
import { ConflictError, NotFoundError } from '../edge/errors';
import type { Principal } from '../edge/principal';
import { TERMINAL_STATUSES } from './api-schemas';
import type { BatchApiStore, BatchStore, JobRecord } from './batch-store';

/** How long a deletion waits for a job's end to be recorded: ten polls, a second in all. */
const END_RECORD_WAITS = 10;
const END_RECORD_WAIT_MS = 100;

export interface DeletionDependencies {
  readonly store: BatchApiStore;
  readonly s3: Pick<S3Client, 'send'>;
  readonly bucket: string;
}

/**
 * Deletes a job that has ended: its results objects, then every item of its partition, the job item
 * last, so that a deletion stopped half way is finished by a repeat (and a repeat after success finds
 * nothing: 404). Only the owner may delete a job; to anyone else it does not exist here, as for any
 * job they cannot see. A job still queued or running is refused: it must be cancelled first. So is
 * one whose end is not yet recorded (no `notifiedAt`): whoever ended it may still be writing its
 * results manifest, which would land after the deletion and outlive the job.
 */
export async function deleteJob(
  deps: DeletionDependencies,
  principal: Principal,
  jobId: string,
): Promise<void> {
  const job = await deps.store.getJobRecord(jobId);
  if (!job || job.owner !== principal.sub) throw new NotFoundError(`batch job '${jobId}' is not found`);
  if (!TERMINAL_STATUSES.includes(job.status)) {
    throw new ConflictError(
      `batch job '${jobId}' is ${job.status}; cancel it and delete it once it has ended`,
    );
  }
  if (!(await endRecorded(deps.store, jobId, job))) {
    throw new ConflictError(
      `batch job '${jobId}' has ended and its end is still being recorded; delete it in a moment`,
    );
  }
  // No retry may start while the data goes; a job gone meanwhile was deleted by a concurrent request.
  if (!(await deps.store.markDeleting(jobId))) {
    const now = await deps.store.getJob(jobId);
    if (!now) throw new NotFoundError(`batch job '${jobId}' is not found`);
    throw new ConflictError(
      `batch job '${jobId}' is ${now.status}; cancel it and delete it once it has ended`,
    );
  }
  // The job leaves its owner's window here: a worker still releasing it finds it gone and sends
  // nothing, and would never take it out, so the owner's later jobs would have a smaller share.
  await deps.store.leavePacing(job.owner, jobId);
  await deleteResultsObjects(deps, jobId);
  await deps.store.deleteJobItems(jobId);
}

/**
 * Whether the job's end is recorded, waiting a little for it: whoever ended the job records it
 * within milliseconds, and a client that deletes a job the moment it reads it ended should not need
 * to try again. A job ended by a call that then died is recorded by its stall watch, later.
 */
async function endRecorded(store: BatchStore, jobId: string, job: JobRecord): Promise<boolean> {
  let current: JobRecord | undefined = job;
  for (let wait = 0; current && !current.notifiedAt && wait < END_RECORD_WAITS; wait++) {
    await new Promise((resolve) => setTimeout(resolve, END_RECORD_WAIT_MS));
    current = await store.getJobRecord(jobId);
  }
  if (!current) throw new NotFoundError(`batch job '${jobId}' is not found`);
  return current.notifiedAt !== undefined;
}

/** Every object under the job's results prefix, a listing page (up to 1,000 keys) per DeleteObjects. */
async function deleteResultsObjects(deps: DeletionDependencies, jobId: string): Promise<void> {
  const prefix = batchResultsPrefix(jobId);
  let token: string | undefined;
  do {
    const page = await deps.s3.send(
      new ListObjectsV2Command({ Bucket: deps.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    const keys = (page.Contents ?? []).flatMap((object) => (object.Key ? [{ Key: object.Key }] : []));
    if (keys.length > 0) {
      const { Errors = [] } = await deps.s3.send(
        new DeleteObjectsCommand({ Bucket: deps.bucket, Delete: { Objects: keys, Quiet: true } }),
      );
      // The job stays, so that a repeat deletes what is left.
      if (Errors.length > 0) {
        throw new Error(
          `${Errors.length} results objects of batch job '${jobId}' were not deleted: ${Errors[0]?.Code}`,
        );
      }
    }
    token = page.NextContinuationToken;
  } while (token);
}
