/** The batch worker: one chunk of a job through inference, recorded and counted exactly once. */
import type { ModelVersion } from '../../contracts/registry-schemas';
import { BackendError, BadRequestError, NotFoundError } from '../edge/errors';
import type { InferenceResponse, InputTensor } from '../inference/protocol';
import { isRetryable } from '../inference/sagemaker-backend';
import { type InferenceDependencies, inferChecked } from '../inference/service';
import { logger } from '../observability/logger';
import type { ModelCache } from '../registry/model-cache';
import { countResult, countRetry } from './accounting';
import type { BatchJob, ItemResult } from './api-schemas';
import {
  type BatchStore,
  type ChunkResult,
  type JobRecord,
  MAX_RESULT_PART_BYTES,
  type StoredChunk,
} from './batch-store';
import { batchedRequest, type StoredItem, splitOutputs } from './chunking';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface WorkerDependencies {
  readonly store: BatchStore;
  readonly models: Pick<ModelCache, 'getModel'>;
  readonly inference: InferenceDependencies;
}

/** What the worker should do when a chunk fails in a way a retry might fix. */
export interface Delivery {
  /** How many times SQS has delivered this message, this delivery included. */
  readonly receiveCount: number;
  /** The queue's maxReceiveCount: on that delivery, failures are recorded instead of retried. */
  readonly maxReceiveCount: number;
  /** When the message was first sent (SQS `SentTimestamp`), for the time it spent queued. */
  readonly sentAtEpochMs?: number;
}

/**
 * Processes one chunk exactly once, however often it is delivered: records its result (or finds
 * the one recorded before), counts it into the job once, and finishes the job when every item is
 * accounted for. Throws only for a failure a redelivery might fix; on the last delivery the items
 * are recorded as failed with the reason instead, so a poison chunk never loses its items.
 */
export async function processChunk(
  deps: WorkerDependencies,
  work: { readonly jobId: string; readonly chunk: number; readonly attempt?: number },
  delivery: Delivery,
): Promise<ChunkResult | undefined> {
  const { store } = deps;
  const job = await store.getJobRecord(work.jobId);
  if (!job) {
    logger.warn('work for an unknown batch job dropped', { ...work });
    return undefined;
  }
  if (work.attempt !== undefined) return retryChunk(deps, job, { ...work, attempt: work.attempt }, delivery);
  const started = Date.now();
  let inferenceMs = 0;
  let result = await store.getResult(work.jobId, work.chunk);
  if (!result) {
    const chunk = await store.getChunk(job, work.chunk);
    if (!chunk) {
      logger.warn('work for an unknown chunk dropped', { ...work });
      return undefined;
    }
    const inferenceStarted = Date.now();
    // Decided on the job item, which orders this start against a cancel: the job read above may be
    // older than a cancel that was accepted since, and that cancel must stop this chunk.
    const outcome = (await store.startChunk(work.jobId, work.chunk))
      ? await runChunk(deps, job, numbered(chunk), delivery)
      : chunk.items.map(
          (item, i): ItemResult => ({ index: chunk.first + i, ...idOf(item), cancelled: true }),
        );
    inferenceMs = Date.now() - inferenceStarted;
    result = await store.putResult(work.jobId, { chunk: work.chunk, results: storable(outcome) });
  }
  await countResult(store, job, result);
  // Who and what the chunk belongs to, on every line about it.
  const context = { ...work, principal: job.owner, model: job.model };
  // Where a chunk's time goes: queued, inference, and the rest (reads and the exactly-once writes).
  logger.info('chunk processed', {
    ...context,
    items: result.results.length,
    queueMs: delivery.sentAtEpochMs === undefined ? undefined : started - delivery.sentAtEpochMs,
    inferenceMs,
    storageMs: Date.now() - started - inferenceMs,
  });
  return result;
}

/**
 * Retry `attempt` of one chunk: only its failed items run again, the chunk's result is replaced
 * once for this attempt, and the items that now succeed move from failed to succeeded once. A
 * redelivery finds this attempt's result and counts what it recorded; a message of an older retry
 * changes nothing.
 */
async function retryChunk(
  deps: WorkerDependencies,
  job: JobRecord,
  work: { readonly jobId: string; readonly chunk: number; readonly attempt: number },
  delivery: Delivery,
): Promise<ChunkResult | undefined> {
  const { store } = deps;
  if (job.attempt !== work.attempt) {
    logger.warn('work of an earlier retry dropped', { ...work, current: job.attempt });
    return undefined;
  }
  let result = await store.getResult(work.jobId, work.chunk);
  if (result?.attempt !== work.attempt) {
    const chunk = result && (await store.getChunk(job, work.chunk));
    if (!result || !chunk) {
      logger.warn('retry of a chunk without a result dropped', { ...work });
      return undefined;
    }
    const failed = numbered(chunk).filter(({ index }) => 'error' in result!.results[index - chunk.first]!);
    const rerun = new Map(
      storable(await runChunk(deps, job, failed, delivery)).map((r) => [r.index, r] as const),
    );
    const results = result.results.map((r) => rerun.get(r.index) ?? r);
    const recovered = [...rerun.values()].filter((r) => 'outputs' in r).length;
    result = await store.putRetryResult(work.jobId, {
      chunk: work.chunk,
      results,
      attempt: work.attempt,
      recovered,
    });
    if (!result) return undefined;
  }
  await countRetry(store, job, result.chunk, work.attempt, result.recovered ?? 0);
  logger.info('retried chunk processed', {
    ...work,
    principal: job.owner,
    model: job.model,
    recovered: result.recovered,
  });
  return result;
}

/** A chunk's items with their index in the job. */
function numbered(chunk: StoredChunk): NumberedItem[] {
  return chunk.items.map((item, i) => ({ index: chunk.first + i, item }));
}

interface NumberedItem {
  readonly index: number;
  readonly item: StoredItem;
}

/**
 * The store splits a chunk's results across as many result items as they need, so an item fails
 * only when its own outputs are more than one result item can hold, never for its chunk-mates'.
 */
function storable(results: ItemResult[]): ItemResult[] {
  return results.map((r) => {
    if (!('outputs' in r)) return r;
    const bytes = Buffer.byteLength(JSON.stringify(r));
    // The result's JSON with the brackets and comma of the list it is stored in.
    if (bytes + 3 <= MAX_RESULT_PART_BYTES) return r;
    const error = `the item's outputs take ${bytes} bytes as JSON, more than the ${MAX_RESULT_PART_BYTES} one stored result can hold`;
    return { index: r.index, ...(r.id === undefined ? {} : { id: r.id }), error };
  });
}

async function runChunk(
  deps: WorkerDependencies,
  job: BatchJob,
  numberedItems: readonly NumberedItem[],
  delivery: Delivery,
): Promise<ItemResult[]> {
  const lastChance = delivery.receiveCount >= delivery.maxReceiveCount;
  const items = numberedItems.map(({ item }) => item);
  const indexOf = (i: number) => numberedItems[i]!.index;
  const failAll = (reason: string) =>
    items.map((item, i): ItemResult => ({ index: indexOf(i), ...idOf(item), error: reason }));
  let version: ModelVersion;
  try {
    version = await versionOf(deps, job);
  } catch (error) {
    if (error instanceof NotFoundError) return failAll(error.message);
    throw error;
  }
  try {
    if (version.maxBatchSize > 0) {
      const outputs = splitOutputs(await inferOne(deps, version, batchedRequest(items)), items.length);
      return items.map((item, i) => ({ index: indexOf(i), ...idOf(item), outputs: outputs[i]! }));
    }
  } catch (error) {
    if (!isRequestError(error)) {
      if (lastChance) return failAll(reasonOf(error, delivery));
      throw error;
    }
    logger.info('batched request refused; sending the chunk item by item', {
      jobId: job.jobId,
      first: indexOf(0),
      principal: job.owner,
      model: job.model,
    });
  }
  // The model refused the batch (or does not batch): one request per item, so only bad items fail.
  const results: ItemResult[] = [];
  for (const [i, item] of items.entries()) {
    try {
      const outputs = await inferOne(deps, version, { inputs: item.inputs });
      results.push({ index: indexOf(i), ...idOf(item), outputs });
    } catch (error) {
      if (isRequestError(error)) {
        results.push({ index: indexOf(i), ...idOf(item), error: (error as Error).message });
      } else if (lastChance) {
        results.push({ index: indexOf(i), ...idOf(item), error: reasonOf(error, delivery) });
      } else {
        throw error;
      }
    }
  }
  return results;
}

async function versionOf(deps: WorkerDependencies, job: BatchJob): Promise<ModelVersion> {
  const model = await deps.models.getModel(job.model);
  const version = model?.versions.find((v) => v.version === job.version);
  if (version?.status !== 'ACTIVE') {
    throw new NotFoundError(`model '${job.model}' version ${job.version} is not found or not active`);
  }
  return version;
}

/** One request on the job's version, sent as it is: its items were checked at submission. */
async function inferOne(
  deps: WorkerDependencies,
  version: ModelVersion,
  request: { readonly inputs: readonly InputTensor[] },
) {
  const answer = await inferChecked(deps.inference, version, {
    body: encoder.encode(JSON.stringify(request)),
    contentType: 'application/json',
  });
  let parsed: InferenceResponse;
  try {
    parsed = JSON.parse(decoder.decode(answer.body)) as InferenceResponse;
  } catch {
    throw new BackendError('the backend answer is not JSON');
  }
  return parsed.outputs;
}

/** A failure of the request rather than of the backend: retrying the same input would fail again. */
function isRequestError(error: unknown): boolean {
  return error instanceof BadRequestError || (error instanceof BackendError && !isRetryable(error));
}

function reasonOf(error: unknown, delivery: Delivery): string {
  const message = error instanceof Error ? error.message : String(error);
  return `failed on all ${delivery.receiveCount} deliveries; last error: ${message}`;
}

function idOf(item: StoredItem): { id?: string } {
  return item.id === undefined ? {} : { id: item.id };
}
