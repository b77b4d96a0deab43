/** Submitting a batch job: checking its items, storing its chunks and the job, and queueing its fan-out. */
import { createHash, randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { BadRequestError, ConflictError } from '../edge/errors';
import { parseInput } from '../edge/validation';
import {
  InvalidInferenceRequestError,
  parseInferenceRequest,
  validateAgainstSignature,
} from '../inference/protocol';
import { resolveTarget } from '../inference/service';
import type { ModelCache } from '../registry/model-cache';
import { type BatchJob, KEYED_JOB_ID_PREFIX, OwnerSchema, type SubmitBatchJob } from './api-schemas';
import type { BatchStore } from './batch-store';
import { chunkLimits, itemBytes, MAX_CHUNK_BYTES, planChunks, type StoredItem } from './chunking';

/** Chunk writes in flight at once during a submission. */
const WRITE_CONCURRENCY = 8;

/**
 * The job id of a submission: derived from an idempotency key, so a retry names the same job. The
 * hash covers the owner's length and UTF-8 bytes, then the key: distinct (owner, key) pairs never
 * hash the same input, which an ill-formed owner (encoded lossily) would break, so it is refused.
 */
export function jobIdFor(owner: string, idempotencyKey?: string): string {
  if (idempotencyKey === undefined) return randomUUID();
  const ownerBytes = Buffer.from(parseInput(OwnerSchema, owner, 'owner'), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(ownerBytes.length);
  const digest = createHash('sha256').update(length).update(ownerBytes).update(idempotencyKey, 'utf8');
  return `${KEYED_JOB_ID_PREFIX}${digest.digest('base64url')}`;
}

/**
 * Checks a submission against the model's signature (the version or alias is resolved once, so
 * every item runs on the same version), stores its chunks and then the job. A job of the same owner
 * that exists already is returned as it is: a retried submission gets the same job and writes
 * nothing. A job of another owner is a conflict, never handed over.
 */
export async function submitJob(
  store: BatchStore,
  models: Pick<ModelCache, 'getModel'>,
  input: { readonly owner: string; readonly jobId: string; readonly submission: SubmitBatchJob },
  now: () => Date = () => new Date(),
): Promise<{ job: BatchJob; created: boolean }> {
  const existing = await store.getJob(input.jobId);
  if (existing) return { job: ownedBy(existing, input.owner), created: false };
  const { submission } = input;
  const { version } = await resolveTarget(models, submission.model, submission.version, input.jobId);
  const items = submission.items.map((item, index) => checkItem(version, item, index));
  const chunks = planChunks(items, chunkLimits(version.maxBatchSize));
  const pending = chunks.map(
    (indices, chunk) => async () =>
      store.putChunk(input, chunk, { first: indices[0]!, items: indices.map((i) => items[i]!) }),
  );
  for (let i = 0; i < pending.length; i += WRITE_CONCURRENCY) {
    await Promise.all(pending.slice(i, i + WRITE_CONCURRENCY).map((write) => write()));
  }
  const stored = await store.createJob({
    jobId: input.jobId,
    owner: input.owner,
    model: version.name,
    version: version.version,
    total: items.length,
    chunks: chunks.length,
    createdAt: now().toISOString(),
  });
  // Another submission may have created the job since it was looked up.
  return { job: ownedBy(stored.job, input.owner), created: stored.created };
}

function ownedBy(job: BatchJob, owner: string): BatchJob {
  if (job.owner !== owner) {
    throw new ConflictError(`batch job '${job.jobId}' exists and belongs to another owner`);
  }
  return job;
}

/**
 * One item as a v2 request of batch 1, checked against the version's signature: what the worker
 * sends as it is. A refused item refuses the whole submission, with the item named in the message.
 */
function checkItem(version: ModelVersion, item: SubmitBatchJob['items'][number], index: number): StoredItem {
  try {
    const request = parseInferenceRequest({ inputs: item.inputs });
    validateAgainstSignature(request, version, version.name);
    if (version.maxBatchSize > 0 && request.inputs.some((input) => input.shape[0] !== 1)) {
      throw new InvalidInferenceRequestError('each input must have batch dimension 1 (one item, one row)');
    }
    const stored: StoredItem = { ...(item.id === undefined ? {} : { id: item.id }), inputs: request.inputs };
    if (itemBytes(stored) > MAX_CHUNK_BYTES) {
      throw new InvalidInferenceRequestError(`the item is larger than ${MAX_CHUNK_BYTES} bytes`);
    }
    return stored;
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
}

/**
 * A submission through the API: stored here, then named on the submissions queue, whose consumer
 * fans it out. The same idempotency key from the same owner names the same job.
 */
export async function submitForFanOut(
  deps: SubmissionDependencies,
  input: { readonly owner: string; readonly idempotencyKey?: string; readonly submission: SubmitBatchJob },
): Promise<BatchJob> {
  const jobId = jobIdFor(input.owner, input.idempotencyKey);
  const { job } = await submitJob(deps.store, deps.models, {
    owner: input.owner,
    jobId,
    submission: input.submission,
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
