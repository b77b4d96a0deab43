/**
 * The fan-out's scan of a job's input files: lines read by byte ranges, planned into chunks by the
 * chunking rules, each chunk recorded as a descriptor of where its items are (never the items), and
 * the scan's cursor recorded on the job with each step, so that a scan stopped anywhere (a crash, a
 * timeout) goes on from its last step. Rules: docs/batch.md, "Input files in S3".
 */
import type { ModelVersion } from '../../contracts/registry-schemas';
import { NotFoundError } from '../edge/errors';
import { logger } from '../observability/logger';
import type { ModelCache } from '../registry/model-cache';
import { finishIfCounted } from './accounting';
import { TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, JobRecord, StoredChunk } from './batch-store';
import { ChunkPlanner, fileChunkLimits } from './chunking';
import type { InputBucket } from './input-files';
import { isBlank, itemRunsOf, linesOf, planningFootprint, RANGE_BYTES, readRange } from './input-lines';
import type { InputRange, ScanCursor } from './input-schemas';
import type { ResultFiles } from './result-parts';

/** Chunks planned per step: each step writes their descriptors, then moves the cursor. */
const CHUNKS_PER_STEP = 10;
/**
 * How long one invocation scans before it hands the scan on to a new message: short, so that a crash
 * redoes little and other jobs' submissions do not wait behind a long scan for one of the fan-out's
 * few concurrent invocations. Each delivery then also ends far within the submissions queue's
 * visibility timeout, so it is never delivered again while it runs.
 */
const SLICE_MS = 2_000;
/**
 * The time an invocation keeps for its last step and the continuation message: a step reads at
 * most a few ranges and writes CHUNKS_PER_STEP small items.
 */
const RESERVE_MS = 60_000;
/**
 * How the lines after a cancel are planned: by count alone, each chunk as many items as a result
 * part of cancelled lines holds comfortably (about 3 MB).
 */
const CANCELLED_ITEMS = 100_000;
/** Descriptor writes in flight at once. */
const WRITE_CONCURRENCY = 8;

export interface ScanDependencies {
  readonly store: BatchStore;
  readonly inputs: InputBucket;
  /** Where the job's results go: a scan that ends the job writes its manifest. */
  readonly resultFiles: ResultFiles;
  readonly models: Pick<ModelCache, 'getModel'>;
  /** Sends the job's next chunks, as far as its share of the window allows (`releaseWork`). */
  readonly release: (jobId: string) => Promise<void>;
  /** Queues a message that goes on with the scan in another invocation. */
  readonly continueLater: (jobId: string) => Promise<void>;
  /** What the invocation has left (Lambda's `context.getRemainingTimeInMillis`). */
  readonly remainingMs: () => number;
  /** @default RESERVE_MS */
  readonly reserveMs?: number;
  /** @default RANGE_BYTES */
  readonly rangeBytes?: number;
  /** The model's batches per chunk. @default fileChunkBatches(version) */
  readonly batchesPerChunk?: number;
  /** @default CHUNKS_PER_STEP */
  readonly chunksPerStep?: number;
  /** @default SLICE_MS */
  readonly sliceMs?: number;
  readonly now?: () => number;
}

/**
 * `finished`: every line is planned; `continued`: a continuation was queued before the time ran
 * out; `superseded`: another scan of the job moved the cursor first (it goes on); `none`: the job
 * has no scan to do.
 */
export type ScanOutcome = 'finished' | 'continued' | 'superseded' | 'none';

/** The chunk being planned: where its first item's line starts and how far it reaches. */
interface OpenChunk {
  readonly start: number;
  readonly line: number;
  readonly first: number;
  end: number;
  lastLine: number;
  count: number;
}

/**
 * Scans the job's input files from its cursor until they end or the time runs short. Safe to run
 * twice at once: both plan the same chunks from the same cursor (the files are read `If-Match`
 * the ETags the job was submitted with), so their descriptor writes are the same, and only one
 * moves the cursor.
 */
export async function scanInputs(deps: ScanDependencies, jobId: string): Promise<ScanOutcome> {
  const job = await deps.store.getJobRecord(jobId);
  if (!job?.inputs) return 'none';
  if (!job.scan || TERMINAL_STATUSES.includes(job.status)) {
    // The delivery that ended the scan (or the job) may have died before it finished the job,
    // released its last chunks or, for an ended job, its owner's window: done again here.
    await finishScan(deps, jobId);
    return 'none';
  }
  const inputs = job.inputs;
  const version = await versionOf(deps, job);
  // Chunks grow with their number (`fileChunkLimits`): the limits of the chunk being planned.
  let limits = fileChunkLimits(version, deps.batchesPerChunk);
  let limitsOf = 0;
  const limitsFor = (chunk: number) => {
    if (chunk !== limitsOf) {
      limits = fileChunkLimits(version, deps.batchesPerChunk, chunk);
      limitsOf = chunk;
    }
    return limits;
  };
  const perStep = deps.chunksPerStep ?? CHUNKS_PER_STEP;
  const reserve = deps.reserveMs ?? RESERVE_MS;
  const now = deps.now ?? Date.now;
  const until = now() + (deps.sliceMs ?? SLICE_MS);
  const stopping = () => deps.remainingMs() < reserve || now() >= until;
  let cursor: ScanCursor = job.scan;
  // Where the next step's cursor goes: after the last chunk closed.
  let next: ScanCursor = cursor;
  let pending: { chunk: number; stored: StoredChunk }[] = [];
  // After a cancel no chunk can start: the rest of the lines are only counted (`itemRunsOf`), into
  // large chunks that end cancelled without being read. The cursor says when (`countFromHere`), so
  // that two scans of the job from one cursor plan the same chunks.
  let cancelled = job.cancelRequestedAt !== undefined;

  /**
   * Records the pending chunks and moves the cursor to `next`; false when another scan moved it, or
   * counted chunks that this one planned.
   */
  const step = async (done: boolean): Promise<boolean> => {
    for (let i = 0; i < pending.length; i += WRITE_CONCURRENCY) {
      const written = await Promise.all(
        pending
          .slice(i, i + WRITE_CONCURRENCY)
          .map(({ chunk, stored }) => deps.store.putChunk(job, chunk, stored)),
      );
      if (written.includes(false)) return false;
    }
    const moved = await deps.store.advanceScan(jobId, cursor, next, done);
    if (!moved) return false;
    cancelled ||= moved.cancelRequestedAt !== undefined;
    cursor = next;
    pending = [];
    await deps.release(jobId);
    return true;
  };
  /**
   * Marks the cursor as one that counts: from it every scan only counts, whenever it read the job.
   * False when another scan moved the cursor first.
   */
  const countFromHere = async (): Promise<boolean> => {
    const counting: ScanCursor = { ...cursor, counting: true };
    if (!(await deps.store.advanceScan(jobId, cursor, counting, false))) return false;
    cursor = next = counting;
    return true;
  };
  const close = (
    input: number,
    chunk: OpenChunk | undefined,
    extra?: Pick<InputRange, 'oversize' | 'counted'>,
  ) => {
    if (!chunk) return;
    const range: InputRange = {
      input,
      start: chunk.start,
      end: chunk.end,
      line: chunk.line,
      count: chunk.count,
      ...extra,
    };
    pending.push({ chunk: next.chunk, stored: { first: chunk.first, items: [], range } });
    next = {
      input,
      offset: chunk.end,
      line: chunk.lastLine + 1,
      item: chunk.first + chunk.count,
      chunk: next.chunk + 1,
      ...(next.counting ? { counting: true } : {}),
    };
  };

  for (let input = cursor.input; input < inputs.length; input++) {
    const file = inputs[input]!;
    const planner = new ChunkPlanner(limits);
    let open: OpenChunk | undefined;
    let item = next.item;
    const from = input === cursor.input ? cursor.offset : 0;
    const firstLine = input === cursor.input ? cursor.line : 1;
    const read = (start: number, end: number) => readRange(deps.inputs, file, start, end);
    const rangeBytes = deps.rangeBytes ?? RANGE_BYTES;
    if (!next.counting && !cancelled) {
      for await (const line of linesOf(read, from, file.size, firstLine, rangeBytes)) {
        if (isBlank(line)) continue;
        if (!line.bytes) {
          // Too long to read again: a chunk of its own, whose item fails without being read.
          close(input, open);
          planner.close();
          open = undefined;
          close(
            input,
            {
              start: line.start,
              end: line.end,
              line: line.number,
              lastLine: line.number,
              first: item,
              count: 1,
            },
            { oversize: true },
          );
        } else {
          planner.limits = limitsFor(next.chunk);
          if (planner.add(planningFootprint(line, limits)) > 0) {
            close(input, open);
            open = undefined;
          }
          open ??= {
            start: line.start,
            line: line.number,
            first: item,
            end: line.end,
            lastLine: line.number,
            count: 0,
          };
          open.end = line.end;
          open.lastLine = line.number;
          open.count++;
        }
        item++;
        if (pending.length >= perStep || (pending.length > 0 && stopping())) {
          if (!(await step(false))) return superseded(job);
          if (stopping()) return continued(deps, job, cursor);
          // The chunk still open is counted from the cursor with the rest.
          if (cancelled) break;
        }
      }
      if (!cancelled) close(input, open);
    }
    if (!next.counting && cancelled && !(await countFromHere())) return superseded(job);
    if (next.counting) {
      // The rest of the file from the cursor, the last chunk's end: lines read after it (the chunk
      // still open when the cancel was seen, blank ones) are counted again.
      for await (const run of itemRunsOf(
        read,
        next.offset,
        file.size,
        next.line,
        CANCELLED_ITEMS,
        rangeBytes,
      )) {
        close(input, { ...run, first: next.item }, { counted: true });
        if (pending.length >= perStep || stopping()) {
          if (!(await step(false))) return superseded(job);
          if (stopping()) return continued(deps, job, cursor);
        }
      }
    }
    // Chunks never span files: the next file starts a chunk, and the cursor moves to it.
    const last = input === inputs.length - 1;
    next = last
      ? next
      : {
          input: input + 1,
          offset: 0,
          line: 1,
          item: next.item,
          chunk: next.chunk,
          ...(next.counting ? { counting: true } : {}),
        };
    if (!(await step(last))) return superseded(job);
    if (!last && stopping()) return continued(deps, job, cursor);
  }
  logger.info('input files scanned', {
    jobId,
    principal: job.owner,
    model: job.model,
    items: next.item,
    chunks: next.chunk,
  });
  await finishScan(deps, jobId);
  return 'finished';
}

async function finishScan(deps: ScanDependencies, jobId: string): Promise<void> {
  // Every chunk may have been counted while the scan went on (or the files held no item).
  await finishIfCounted(deps.store, deps.resultFiles, jobId);
  await deps.release(jobId);
}

async function continued(deps: ScanDependencies, job: JobRecord, cursor: ScanCursor): Promise<ScanOutcome> {
  await deps.continueLater(job.jobId);
  logger.info('input scan continues in another invocation', {
    jobId: job.jobId,
    principal: job.owner,
    ...cursor,
  });
  return 'continued';
}

function superseded(job: JobRecord): ScanOutcome {
  logger.info('input scan superseded by another scan of the job', { jobId: job.jobId, principal: job.owner });
  return 'superseded';
}

/** The job's version, whose signature its lines are checked against and chunked by. */
export async function versionOf(
  deps: { readonly models: Pick<ModelCache, 'getModel'> },
  job: Pick<JobRecord, 'model' | 'version'>,
): Promise<ModelVersion> {
  const model = await deps.models.getModel(job.model);
  const version = model?.versions.find((v) => v.version === job.version);
  if (!version) throw new NotFoundError(`model '${job.model}' version ${job.version} is not found`);
  return version;
}
