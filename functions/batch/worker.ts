/** The batch worker: one chunk of a job through inference, recorded and counted exactly once. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from '../../contracts/metric-catalog';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { BackendError, BackendUnavailableError, BadRequestError, NotFoundError } from '../edge/errors';
import { sageMakerBinaryRequest } from '../inference/binary-tensors';
import type { InferenceResponse, InputTensor } from '../inference/protocol';
import { isRetryable } from '../inference/sagemaker-backend';
import { type InferenceDependencies, inferChecked } from '../inference/service';
import { parseTritonJson } from '../inference/triton-json';
import { logger } from '../observability/logger';
import { publishEvent } from '../observability/metrics';
import type { ModelCache } from '../registry/model-cache';
import { countResult, countRetry } from './accounting';
import type { BatchJob, ItemResult, WorkMessage } from './api-schemas';
import { type BatchStore, type ChunkResult, type JobRecord, MAX_RESULT_PART_BYTES } from './batch-store';
import { readChunk, type SourcedChunk, sourceChunk, withReadFailures } from './chunk-source';
import {
  batchedRequest,
  CHUNK_REQUESTS_AT_ONCE,
  CHUNK_WIDEN_AFTER_MS,
  chunkLimits,
  FILE_CHUNK_REQUESTS,
  planChunks,
  type StoredItem,
  splitOutputs,
} from './chunking';
import { unrunResults } from './dead-letters';
import { mapInFlight } from './in-flight';
import type { InputBucket } from './input-files';
import { chunkResultsOf } from './result-files';
import type { ResultFiles } from './result-parts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface WorkerDependencies {
  readonly store: BatchStore;
  readonly models: Pick<ModelCache, 'getModel'>;
  readonly inference: InferenceDependencies;
  readonly outage: OutagePolicy;
  /**
   * Sends the job's next chunks once this one is counted (`releaseWork`), when the fan-out paces
   * the job; called on every delivery that finds the chunk counted, so a redelivery after a crash
   * makes a release that was lost. `counted` is the job as the count left it, when it is known.
   */
  readonly release?: (jobId: string, attempt?: number, counted?: JobRecord) => Promise<void>;
  /** The batch data bucket, for chunks of jobs that read input files. */
  readonly inputs?: InputBucket;
  /** Where S3 jobs' result parts go (`resultsTo: 's3'`). */
  readonly resultFiles?: ResultFiles;
  readonly now?: () => number;
}

/** How the worker rides out a model outage without spending its chunks' deliveries. */
export interface OutagePolicy {
  /** How long a chunk may wait for its model to answer again before its items fail. */
  readonly budgetSeconds: number;
  /** Queues the work message again, delivered after `delaySeconds` (SQS `DelaySeconds`, 0-900). */
  readonly defer: (work: WorkMessage, delaySeconds: number) => Promise<void>;
}

/** The delivery of a work message, for the log. */
export interface Delivery {
  /** How many times SQS has delivered this message, this delivery included. */
  readonly receiveCount: number;
  /** When the message was first sent (SQS `SentTimestamp`), for the time it spent queued. */
  readonly sentAtEpochMs?: number;
  /** When SQS first delivered the message (`ApproximateFirstReceiveTimestamp`). */
  readonly firstReceivedAtEpochMs?: number;
}

/** SQS's largest `DelaySeconds`. */
const MAX_DELAY_SECONDS = 900;
/** The longest wait between two tries of a deferred chunk, so a cancel or a recovery is seen soon. */
const MAX_DEFERRAL_SECONDS = 300;

/**
 * Every backend the chunk's version was tried on failed or had its circuit open: not the items'
 * fault, so the chunk waits for the model instead of failing.
 */
class ModelOutage extends Error {
  constructor(
    override readonly cause: unknown,
    /** When the backends' circuits admit a call again, if they said. */
    readonly retryAfterSeconds: number,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * Processes one chunk exactly once, however often it is delivered: records its result (or finds
 * the one recorded before), counts it into the job once, and finishes the job when every item is
 * accounted for. A model outage defers the chunk (see `defer`) until the outage budget is spent;
 * any other failure (a store error, a crash) is thrown, for SQS to redeliver and, after
 * `maxReceiveCount` receives, dead-letter.
 */
export async function processChunk(
  deps: WorkerDependencies,
  work: WorkMessage,
  delivery: Delivery,
): Promise<ChunkResult | undefined> {
  const { store } = deps;
  const job = await store.getJobRecord(work.jobId);
  if (!job) {
    logger.warn('work for an unknown batch job dropped', { ...work });
    return undefined;
  }
  try {
    if (work.attempt !== undefined) {
      return await retryChunk(deps, job, { ...work, attempt: work.attempt }, delivery);
    }
    return await firstRun(deps, job, work, delivery);
  } catch (error) {
    if (!(error instanceof ModelOutage)) throw error;
    await defer(deps, job, work, error);
    return undefined;
  }
}

/**
 * Queues the chunk again for later, as a new message: SQS counts every receive of a message towards
 * `maxReceiveCount`, so waiting by redelivery would dead-letter chunks for an outage. A first run's
 * chunk is marked not started again first, so that a cancel made while it waits stops it.
 */
async function defer(deps: WorkerDependencies, job: JobRecord, work: WorkMessage, outage: ModelOutage) {
  const now = (deps.now ?? Date.now)();
  const outageSince = work.outageSince ?? now;
  const deferrals = (work.deferrals ?? 0) + 1;
  const delaySeconds = deferralDelay(deferrals, outage.retryAfterSeconds, outageSince, now, deps.outage);
  if (work.attempt === undefined) await deps.store.unstartChunk(work.jobId, work.chunk);
  await deps.store.markDeferred(work.jobId, work.attempt ?? 0, work.chunk);
  await deps.outage.defer({ ...work, outageSince, deferrals }, delaySeconds);
  // A deferred chunk leaves its place in the job's window to the next one.
  await deps.release?.(work.jobId, work.attempt);
  publishEvent(METRIC.batchChunksDeferred, MetricUnit.Count, 1, { model: job.model });
  logger.warn('model unavailable; chunk deferred', {
    ...work,
    principal: job.owner,
    model: job.model,
    delaySeconds,
    outageSeconds: Math.round((now - outageSince) / 1000),
    error: outage.message,
  });
}

/**
 * Exponential backoff from one second, no sooner than the circuits admit a call, at most
 * MAX_DEFERRAL_SECONDS, and not past the end of the outage budget, where the last try happens.
 */
export function deferralDelay(
  deferrals: number,
  retryAfterSeconds: number,
  outageSince: number,
  now: number,
  policy: Pick<OutagePolicy, 'budgetSeconds'>,
): number {
  const backoff = Math.max(2 ** (deferrals - 1), retryAfterSeconds);
  const budgetLeft = Math.ceil((outageSince + policy.budgetSeconds * 1000 - now) / 1000);
  return Math.max(0, Math.min(backoff, MAX_DEFERRAL_SECONDS, MAX_DELAY_SECONDS, budgetLeft));
}

/** Whether the chunk's outage has lasted its whole budget: its items then fail instead of waiting. */
function outageBudgetSpent(deps: WorkerDependencies, work: WorkMessage): boolean {
  if (work.outageSince === undefined) return false;
  return (deps.now ?? Date.now)() - work.outageSince >= deps.outage.budgetSeconds * 1000;
}

async function firstRun(
  deps: WorkerDependencies,
  job: JobRecord,
  work: WorkMessage,
  delivery: Delivery,
): Promise<ChunkResult | undefined> {
  const { store } = deps;
  const started = Date.now();
  let inferenceMs = 0;
  const recorded = chunkResultsOf(store, deps.resultFiles, job);
  // The result and the chunk are read and the chunk is marked started at once, one round trip on
  // every chunk's path. The start is decided on the job item, which orders it against a cancel: the
  // job read above may be older than a cancel accepted since, and that cancel must stop this chunk.
  // Marking a chunk whose result is recorded already changes nothing (the set holds it once), and
  // only a chunk the job has planned is marked with the reads, as a cancel compares the started
  // chunks with the planned ones; any other is marked, if stored, once its read finds it.
  const starting = work.chunk < job.chunks ? store.startChunk(work.jobId, work.chunk) : undefined;
  let [result, stored, startedWithReads] = await Promise.all([
    recorded.get(work.chunk),
    store.getChunk(job, work.chunk),
    starting,
  ]);
  if (!result) {
    if (!stored) {
      logger.warn('work for an unknown chunk dropped', { ...work });
      return undefined;
    }
    const inferenceStarted = Date.now();
    // A stopped chunk is not read, so it ends as the release ends a chunk it never sent (`endChunk`).
    let outcome: ItemResult[];
    if (startedWithReads ?? (await store.startChunk(work.jobId, work.chunk))) {
      const chunk = await sourceChunk(deps, job, work.chunk, stored);
      outcome = withReadFailures(chunk, await runChunk(deps, job, numbered(chunk), work));
    } else outcome = unrunResults(stored);
    inferenceMs = Date.now() - inferenceStarted;
    result = await recorded.put({ chunk: work.chunk, results: storable(job, outcome) });
  }
  const counted = await countResult(store, job, result, deps.resultFiles);
  await deps.release?.(work.jobId, undefined, counted);
  // Who and what the chunk belongs to, on every line about it.
  const context = { ...work, principal: job.owner, model: job.model };
  // Where a chunk's time goes: queued, inference, and the rest (reads and the exactly-once writes).
  logger.info('chunk processed', {
    ...context,
    items: result.results.length,
    receiveCount: delivery.receiveCount,
    sentAt: delivery.sentAtEpochMs,
    firstReceivedAt: delivery.firstReceivedAtEpochMs,
    startedAt: started,
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
  work: WorkMessage & { readonly attempt: number },
  delivery: Delivery,
): Promise<ChunkResult | undefined> {
  const { store } = deps;
  if (job.attempt !== work.attempt) {
    logger.warn('work of an earlier retry dropped', { ...work, current: job.attempt });
    return undefined;
  }
  const recorded = chunkResultsOf(store, deps.resultFiles, job);
  let result = await recorded.get(work.chunk);
  if (result?.attempt !== work.attempt) {
    const chunk = result && (await readChunk(deps, job, work.chunk));
    if (!result || !chunk) {
      logger.warn('retry of a chunk without a result dropped', { ...work });
      return undefined;
    }
    const failed = numbered(chunk).filter(({ index }) => 'error' in result!.results[index - chunk.first]!);
    const rerun = new Map(
      storable(job, await runChunk(deps, job, failed, work)).map((r) => [r.index, r] as const),
    );
    const results = result.results.map((r) => rerun.get(r.index) ?? r);
    const recovered = [...rerun.values()].filter((r) => 'outputs' in r).length;
    result = await recorded.putRetry(
      { chunk: work.chunk, results, attempt: work.attempt, recovered },
      result,
    );
    if (!result) return undefined;
  }
  await countRetry(store, job, result.chunk, work.attempt, result.recovered ?? 0, deps.resultFiles);
  await deps.release?.(work.jobId, work.attempt);
  logger.info('retried chunk processed', {
    ...work,
    principal: job.owner,
    model: job.model,
    recovered: result.recovered,
    receiveCount: delivery.receiveCount,
  });
  return result;
}

/** A chunk's items with their index in the job. */
function numbered(chunk: SourcedChunk): NumberedItem[] {
  return chunk.items.map((item, i) => ({ index: chunk.indices?.[i] ?? chunk.first + i, item }));
}

interface NumberedItem {
  readonly index: number;
  readonly item: StoredItem;
}

/**
 * The store splits a chunk's results across as many result items as they need, so an item fails
 * only when its own outputs are more than one result item can hold, never for its chunk-mates'. A
 * part in S3 holds any size.
 */
function storable(job: JobRecord, results: ItemResult[]): ItemResult[] {
  if (job.resultsTo === 's3') return results;
  return results.map((r) => {
    if (!('outputs' in r)) return r;
    const bytes = Buffer.byteLength(JSON.stringify(r));
    // The result's JSON with the brackets and comma of the list it is stored in.
    if (bytes + 3 <= MAX_RESULT_PART_BYTES) return r;
    const error = `the item's outputs take ${bytes} bytes as JSON, more than the ${MAX_RESULT_PART_BYTES} one stored result can hold`;
    return { index: r.index, ...(r.id === undefined ? {} : { id: r.id }), error };
  });
}

/**
 * The chunk's items through the model. The model's refusal of an item is that item's error; a
 * model outage (every backend tried failed or has its circuit open) is thrown as a ModelOutage,
 * to be deferred, until the chunk's outage budget is spent: then the items fail, naming it.
 */
async function runChunk(
  deps: WorkerDependencies,
  job: JobRecord,
  numberedItems: readonly NumberedItem[],
  work: WorkMessage,
): Promise<ItemResult[]> {
  // A chunk of an input file whose lines all failed as they were read has nothing to run.
  if (numberedItems.length === 0) return [];
  const budgetSpent = outageBudgetSpent(deps, work);
  const failAll = (batch: readonly NumberedItem[], reason: string) =>
    batch.map(({ index, item }): ItemResult => ({ index, ...idOf(item), error: reason }));
  const outage = (batch: readonly NumberedItem[], error: unknown) => {
    if (budgetSpent) return failAll(batch, outageReason(error, deps, work));
    const retryAfter = error instanceof BackendUnavailableError ? error.retryAfterSeconds : 1;
    throw new ModelOutage(error, retryAfter);
  };
  let version: ModelVersion;
  try {
    version = await versionOf(deps, job);
  } catch (error) {
    if (error instanceof NotFoundError) return failAll(numberedItems, error.message);
    throw error;
  }

  /** One request for one item, so that only a bad item fails. */
  const alone = async (numbered: NumberedItem): Promise<ItemResult> => {
    const { index, item } = numbered;
    try {
      const outputs = await inferOne(deps, version, { inputs: item.inputs });
      return { index, ...idOf(item), outputs };
    } catch (error) {
      if (!isRequestError(error) && !budgetSpent) outage([numbered], error);
      const reason = isRequestError(error) ? (error as Error).message : outageReason(error, deps, work);
      return { index, ...idOf(item), error: reason };
    }
  };
  /** One batched request; if the model refuses it, the batch item by item. */
  const batched = async (batch: readonly NumberedItem[]) => {
    const items = batch.map(({ item }) => item);
    try {
      const outputs = splitOutputs(await inferOne(deps, version, batchedRequest(items)), items.length);
      return batch.map(({ index, item }, i): ItemResult => ({ index, ...idOf(item), outputs: outputs[i]! }));
    } catch (error) {
      if (!isRequestError(error)) return outage(batch, error);
      logger.info('batched request refused; sending the batch item by item', {
        jobId: job.jobId,
        first: batch[0]!.index,
        principal: job.owner,
        model: job.model,
      });
      return mapInFlight(batch, 1, alone);
    }
  };

  // CHUNK_REQUESTS_AT_ONCE requests in flight, up to FILE_CHUNK_REQUESTS once the chunk is slow: a
  // grown chunk of an input file sends its batches (or items) in turn.
  const widen = { width: FILE_CHUNK_REQUESTS, afterMs: CHUNK_WIDEN_AFTER_MS };
  if (version.maxBatchSize <= 0) return mapInFlight(numberedItems, CHUNK_REQUESTS_AT_ONCE, alone, widen);
  // A chunk holds several of the model's batches (`fileChunkLimits`, `tableChunkLimits`).
  const batches = planChunks(
    numberedItems.map(({ item }) => item),
    chunkLimits(version),
  ).map((indices) => indices.map((i) => numberedItems[i]!));
  return (await mapInFlight(batches, CHUNK_REQUESTS_AT_ONCE, batched, widen)).flat();
}

async function versionOf(deps: WorkerDependencies, job: BatchJob): Promise<ModelVersion> {
  const model = await deps.models.getModel(job.model);
  const version = model?.versions.find((v) => v.version === job.version);
  if (version?.status !== 'ACTIVE') {
    throw new NotFoundError(`model '${job.model}' version ${job.version} is not found or not active`);
  }
  return version;
}

/**
 * One request on the job's version, its items checked at submission: numeric inputs as binary data
 * (a heavy model's items are mostly numbers, which printing and parsing as JSON text made the
 * worker's largest cost), others as JSON.
 */
async function inferOne(
  deps: WorkerDependencies,
  version: ModelVersion,
  request: { readonly inputs: readonly InputTensor[] },
) {
  const answer = await inferChecked(
    deps.inference,
    version,
    sageMakerBinaryRequest(request.inputs) ?? {
      body: encoder.encode(JSON.stringify(request)),
      contentType: 'application/json',
    },
  );
  let parsed: InferenceResponse;
  try {
    // NaN and infinities come as Triton writes them; a result keeps them as JSON can (null).
    parsed = parseTritonJson(decoder.decode(answer.body)) as InferenceResponse;
  } catch {
    throw new BackendError('the backend answer is not JSON');
  }
  return parsed.outputs;
}

/** A failure of the request rather than of the backend: retrying the same input would fail again. */
function isRequestError(error: unknown): boolean {
  return error instanceof BadRequestError || (error instanceof BackendError && !isRetryable(error));
}

function outageReason(error: unknown, deps: WorkerDependencies, work: WorkMessage): string {
  const message = error instanceof Error ? error.message : String(error);
  const seconds = Math.round(((deps.now ?? Date.now)() - (work.outageSince ?? 0)) / 1000);
  return `model unavailable for ${seconds} s, longer than the batch outage budget of ${deps.outage.budgetSeconds} s; last error: ${message}`;
}

function idOf(item: StoredItem): { id?: string } {
  return item.id === undefined ? {} : { id: item.id };
}
