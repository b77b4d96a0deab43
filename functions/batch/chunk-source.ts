/**
 * Where the worker gets a chunk's items: from the chunk item in DynamoDB (a job submitted with its
 * items), or, for a job that reads input files, from the byte range of a file the chunk's descriptor
 * names. Each line is parsed and checked again here: a line that is not an item fails that item,
 * with its line number, and the chunk's other items run.
 */

import { NotFoundError } from '../edge/errors';
import type { ModelCache } from '../registry/model-cache';
import type { ItemResult } from './api-schemas';
import type { BatchStore, JobRecord, StoredChunk } from './batch-store';
import type { StoredItem } from './chunking';
import type { InputBucket } from './input-files';
import { isBlank, linesOf, MAX_LINE_BYTES, type ParsedLine, parseLine, readRange } from './input-lines';
import { versionOf } from './input-scan';

/** A chunk's items to run, with the results of the items that failed as they were read. */
export interface SourcedChunk extends StoredChunk {
  /** Each item's index in the job, when the items are not `first` onwards (failed lines left out). */
  readonly indices?: readonly number[];
  /** The chunk's items that failed as their lines were read, by index. */
  readonly failed: readonly ItemResult[];
}

export interface ChunkSourceDependencies {
  readonly store: BatchStore;
  readonly models: Pick<ModelCache, 'getModel'>;
  /** The batch data bucket, for jobs that read input files. */
  readonly inputs?: InputBucket;
}

/** The chunk's items, or undefined when the chunk is not stored. */
export async function readChunk(
  deps: ChunkSourceDependencies,
  job: JobRecord,
  chunk: number,
): Promise<SourcedChunk | undefined> {
  const stored = await deps.store.getChunk(job, chunk);
  return stored && sourceChunk(deps, job, chunk, stored);
}

/** A stored chunk's items: its own, or those its range of an input file holds. */
export async function sourceChunk(
  deps: ChunkSourceDependencies,
  job: JobRecord,
  chunk: number,
  stored: StoredChunk,
): Promise<SourcedChunk> {
  if (!stored.range) return { ...stored, failed: [] };
  const { range, first } = stored;
  const file = job.inputs?.[range.input];
  if (!file || !deps.inputs)
    throw new Error(`job ${job.jobId} has no input ${range.input} to read chunk ${chunk} from`);
  // Line numbers count from 1 in each file: in a job of several, an error names its file too.
  const where = (error: string) => (job.inputs!.length > 1 ? `input ${file.inputId}, ${error}` : error);
  if (range.oversize) {
    const error = where(`line ${range.line}: longer than ${MAX_LINE_BYTES} bytes`);
    return { first, items: [], indices: [], failed: [{ index: first, error }] };
  }
  const target = deps.inputs;
  let parse: (line: Parameters<typeof parseLine>[1]) => ParsedLine;
  try {
    const version = await versionOf(deps, job);
    parse = (line) => {
      const parsed = parseLine(version, line);
      return 'item' in parsed ? parsed : { ...parsed, error: where(parsed.error) };
    };
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
    // The version is gone: its items fail, as the worker fails a stored chunk's.
    parse = () => ({ error: (error as Error).message });
  }
  const items: StoredItem[] = [];
  const indices: number[] = [];
  const failed: ItemResult[] = [];
  let index = first;
  const read = (start: number, end: number) => readRange(target, file, start, end);
  for await (const line of linesOf(read, range.start, range.end, range.line)) {
    if (isBlank(line)) continue;
    const parsed = parse(line);
    if ('item' in parsed) {
      items.push(parsed.item);
      indices.push(index);
    } else {
      failed.push({ index, ...(parsed.id === undefined ? {} : { id: parsed.id }), error: parsed.error });
    }
    index++;
  }
  if (index - first !== range.count) {
    throw new Error(`chunk ${chunk} of job ${job.jobId} holds ${index - first} items, not ${range.count}`);
  }
  return { first, items, indices, failed };
}

/** The chunk's results in item order: those of its items that ran, and those that failed when read. */
export function withReadFailures(chunk: SourcedChunk, results: readonly ItemResult[]): ItemResult[] {
  if (chunk.failed.length === 0) return [...results];
  return [...results, ...chunk.failed].sort((a, b) => a.index - b.index);
}
