/** Submitting a batch job: checking its items, storing its chunks and the job, and queueing its fan-out. */
import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { BadRequestError, ConflictError, PlatformError } from '../edge/errors';
import { parseInput } from '../edge/validation';
import { InvalidInferenceRequestError } from '../inference/protocol';
import { resolveTarget } from '../inference/service';
import type { ModelCache } from '../registry/model-cache';
import {
  type BatchJob,
  type BatchSubmission,
  KEYED_JOB_ID_PREFIX,
  OwnerSchema,
  type SubmitBatchJob,
} from './api-schemas';
import { type BatchStore, type ChunkSet, type JobRecord, toJob } from './batch-store';
import { planChunks, type StoredItem, storedItem, tableChunkLimits } from './chunking';
import { fingerprintOf, keyDigest } from './fingerprint';
import { mapInFlight } from './in-flight';
import { expandInputs, headInputs, type InputBucket } from './input-files';

/** Chunk writes in flight at once during a submission. */
const WRITE_CONCURRENCY = 8;

/** The job id of a submission: derived from an idempotency key, so a retry names the same job. */
export function jobIdFor(owner: string, idempotencyKey?: string): string {
  if (idempotencyKey === undefined) return randomUUID();
  return `${KEYED_JOB_ID_PREFIX}${keyDigest(owner, idempotencyKey).toString('base64url')}`;
}

/**
 * A job id named again with another body: the id is for retrying one request, so the job it names
 * is not handed to a different one (422, as the IETF Idempotency-Key draft has it).
 */
export class IdempotencyKeyReusedError extends PlatformError {
  readonly statusCode = 422;
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
}

/**
 * Checks a submission against the model's signature (the version or alias is resolved once, so
 * every item runs on the same version), stores its chunks and then the job.
 *
 * Atomic per job id, whatever the interleaving: each attempt writes its chunks as a set of its own
 * (a random id in their keys), and the job, written last with a condition that it does not exist,
 * records the one set it runs. So the job exists only once all its chunks do, an attempt that loses
 * the race (or dies before the job write) leaves chunks no job reads, and two attempts never write
 * the same chunk item. Chunk contents depend on more than the body (the version an alias names at
 * that moment, its batch size), which is why the set is per attempt and not per fingerprint.
 *
 * An existing job is returned to a retry of its own submission (same owner, same fingerprint), unless
 * it is being deleted (409); a job of another owner is a conflict, and another body under the same
 * id is refused (422).
 */
export async function submitJob(
  store: BatchStore,
  models: Pick<ModelCache, 'getModel'>,
  input: {
    readonly owner: string;
    readonly jobId: string;
    readonly submission: BatchSubmission;
    /** Where input files are; needed only by a submission that names them. */
    readonly inputBucket?: InputBucket;
    /** The most items a chunk of the job's items holds (`tableChunkLimits`). */
    readonly chunkItems?: number;
  },
  now: () => Date = () => new Date(),
): Promise<{ job: BatchJob; created: boolean }> {
  const owner = parseInput(OwnerSchema, input.owner, 'owner');
  const fingerprint = fingerprintOf(input.submission);
  const { submission } = input;
  // The job id and the model are looked up at once, one round trip: a retry of an existing job gets
  // that job whatever the registry says now (its version was resolved when it was created), so the
  // model's refusal is awaited only for a new job.
  const resolving = resolveTarget(models, submission.model, submission.version, input.jobId);
  resolving.catch(() => undefined);
  const existing = await store.getJobRecord(input.jobId);
  if (existing) {
    const job = sameSubmission(existing, owner, fingerprint);
    // The job would be answered and then vanish; once its deletion ends, the id takes a new job.
    if (existing.deletingAt) {
      throw new ConflictError(
        `batch job '${input.jobId}' is being deleted; submit it again once the deletion has ended`,
      );
    }
    return { job, created: false };
  }
  const { version } = await resolving;
  if (submission.inputs !== undefined) {
    return createScanningJob(
      store,
      { ...input, owner, fingerprint, version, inputIds: submission.inputs },
      now,
    );
  }
  if (submission.items === undefined) throw new BadRequestError('a batch job needs items or inputs');
  const items = submission.items.map((item, index) => checkItem(version, item, index));
  const chunks = planChunks(items, tableChunkLimits(version, input.chunkItems));
  const set: ChunkSet = { jobId: input.jobId, chunkSet: randomUUID() };
  await mapInFlight(chunks, WRITE_CONCURRENCY, (indices, chunk) =>
    store.putChunk(set, chunk, { first: indices[0]!, items: indices.map((i) => items[i]!) }),
  );
  const stored = await store.createJob({
    ...set,
    owner,
    fingerprint,
    model: version.name,
    version: version.version,
    total: items.length,
    chunks: chunks.length,
    resultsTo: submission.results ?? 'table',
    createdAt: now().toISOString(),
  });
  // A submission that lost the job id to another attempt leaves its chunks under a chunk set no job
  // names: never read, they go with the job's data (its expiry or its deletion).
  return { job: sameSubmission(stored.job, owner, fingerprint), created: stored.created };
}

/**
 * A job that reads its items from input files: created with its files (size and ETag, from S3) and
 * a scan cursor at their start, and no chunks yet; the fan-out scans the files into chunks. The
 * files are the caller's own (their keys derive from the owner), so a job can never make the
 * platform read another owner's file or another bucket.
 */
async function createScanningJob(
  store: BatchStore,
  input: {
    readonly owner: string;
    readonly jobId: string;
    readonly fingerprint: string;
    readonly version: ModelVersion;
    readonly inputIds: readonly string[];
    readonly inputBucket?: InputBucket;
  },
  now: () => Date,
): Promise<{ job: BatchJob; created: boolean }> {
  if (!input.inputBucket) throw new BadRequestError('input files are named through the API only');
  const inputIds = await expandInputs(input.inputBucket, input.owner, input.inputIds);
  const files = await headInputs(input.inputBucket, input.owner, inputIds);
  const createdAt = now().toISOString();
  // An input expires two retentions after its upload (`batchDataLifecycleRules`) and a job reads
  // its inputs until its run deadline, one retention after submission: an input uploaded more
  // than one retention ago could expire under the job.
  const stale = files.find(
    ({ writtenAt }) => store.runDeadline(writtenAt.toISOString()) < Date.parse(createdAt),
  );
  // (A repeated submission of a job that exists got its job back before the inputs were read.)
  if (stale) {
    throw new BadRequestError(
      `input '${stale.inputId}' was uploaded on ${stale.writtenAt.toISOString()}, more than the batch retention ago: it could expire before a job finishes reading it; upload it again`,
    );
  }
  const inputs = files.map(({ writtenAt: _, ...file }) => file);
  const stored = await store.createJob({
    jobId: input.jobId,
    chunkSet: randomUUID(),
    owner: input.owner,
    fingerprint: input.fingerprint,
    model: input.version.name,
    version: input.version.version,
    total: 0,
    chunks: 0,
    createdAt,
    inputs,
    // Millions of items: their results go to S3, never to the table.
    resultsTo: 's3',
    scan: { input: 0, offset: 0, line: 1, item: 0, chunk: 0 },
  });
  return { job: sameSubmission(stored.job, input.owner, input.fingerprint), created: stored.created };
}

/** The stored job, as a retry of the submission that created it sees it; anything else is refused. */
function sameSubmission(job: JobRecord, owner: string, fingerprint: string): BatchJob {
  if (job.owner !== owner) {
    throw new ConflictError(`batch job '${job.jobId}' exists and belongs to another owner`);
  }
  if (job.fingerprint !== fingerprint) {
    throw new IdempotencyKeyReusedError(
      `batch job '${job.jobId}' was submitted with a different body; an idempotency key or job id ` +
        'can only be reused with the same model, version and items',
    );
  }
  return toJob(job);
}

/**
 * One item as a v2 request of batch 1, checked against the version's signature: what the worker
 * sends as it is. A refused item refuses the whole submission, with the item named in the message.
 */
function checkItem(version: ModelVersion, item: SubmitBatchJob['items'][number], index: number): StoredItem {
  try {
    return storedItem(version, item);
  } catch (error) {
    if (error instanceof InvalidInferenceRequestError) {
      throw new BadRequestError(`item ${index}${item.id ? ` (${item.id})` : ''}: ${error.message}`);
    }
    throw error;
  }
}

export interface SubmissionDependencies {
  readonly store: BatchStore;
  readonly models: Pick<ModelCache, 'getModel'>;
  readonly sqs: Pick<SQSClient, 'send'>;
  readonly submissionsQueueUrl: string;
  /** The batch data bucket, where a submission's input files are. */
  readonly inputs?: InputBucket;
}

/**
 * A submission through the API: stored here, then named on the submissions queue, whose consumer
 * fans it out. The same idempotency key from the same owner names the same job.
 */
export async function submitForFanOut(
  deps: SubmissionDependencies,
  input: { readonly owner: string; readonly idempotencyKey?: string; readonly submission: BatchSubmission },
): Promise<BatchJob> {
  const jobId = jobIdFor(input.owner, input.idempotencyKey);
  const { job } = await submitJob(deps.store, deps.models, {
    owner: input.owner,
    jobId,
    submission: input.submission,
    ...(deps.inputs ? { inputBucket: deps.inputs } : {}),
  });
  // Sent again for a retried submission too: the first attempt may have stopped before sending,
  // and fanning out twice is harmless.
  if (job.status === 'QUEUED') {
    await deps.sqs.send(
      new SendMessageCommand({ QueueUrl: deps.submissionsQueueUrl, MessageBody: JSON.stringify({ jobId }) }),
    );
  }
  return job;
}
