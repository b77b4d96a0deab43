/**
 * Splitting a job's items into chunks, joining a chunk into one batched Open Inference Protocol
 * request (dim 0 = items), and splitting the batched answer back into one answer per item.
 */
import { type Datatype, itemDims, type ModelSignature } from '../../contracts/model-signature';
import type { ModelVersion } from '../../contracts/registry-schemas';
import {
  elementCount,
  type InputTensor,
  InvalidInferenceRequestError,
  type OutputTensor,
  parseInferenceRequest,
  type TensorData,
  type TensorElement,
  validateAgainstSignature,
} from '../inference/protocol';

/** One stored item: its client id and its inputs, each with batch dimension 1 when the model batches. */
export interface StoredItem {
  readonly id?: string;
  readonly inputs: readonly InputTensor[];
}

/**
 * A chunk's stored form stays well under DynamoDB's 400 KB item limit; the batched request built
 * from it then stays far below SageMaker's 6 MB payload limit. Where the signature bounds the
 * outputs, a chunk's results are kept under the same size, so they fit one result item.
 */
export const MAX_CHUNK_BYTES = 300_000;

export interface ChunkLimits {
  /** Items per chunk: the model's `max_batch_size`, or a small number for models that do not batch. */
  readonly maxItems: number;
  readonly maxBytes: number;
  /**
   * The most bytes an item's stored result takes beyond its id, when the signature fixes every
   * output's size; absent when it does not (BYTES outputs, variable dimensions).
   */
  readonly resultBytes?: number;
  /** The signature fixes every input's shape beyond the batch dimension: valid items differ only in their ids. */
  readonly fixedInputShapes?: true;
}

/**
 * A chunk of an input file holds the model's batches up to this many items: its items are in S3 and
 * its results go to S3, so only the requests bound it, and its fixed cost (about fifteen DynamoDB
 * requests, a few to S3, one SQS message) is shared by all of them (docs/batch.md, "Input files in S3").
 */
export const FILE_CHUNK_ITEMS = 8_192;
/**
 * The most requests of a chunk the worker has in flight at once: this bounds what one chunk puts on
 * the endpoint. A chunk of an input file starts as this many of the model's batches (or items, for a
 * model that does not batch), so that a chunk takes about one backend timeout at worst.
 */
export const FILE_CHUNK_REQUESTS = 32;
/**
 * The requests a chunk starts with in flight. Triton queues a model's requests in one queue, in
 * order (docs/batch.md, "Sharing the endpoint"), so another job's request waits behind every request
 * the running chunks have sent: four each keep the model's queue fed without making that wait
 * thirty-two requests long per worker.
 */
export const CHUNK_REQUESTS_AT_ONCE = 4;
/**
 * A chunk still in inference after this long has up to FILE_CHUNK_REQUESTS in flight: a slow model's
 * chunk ends about one backend timeout after it, as it did with all of them sent at once.
 */
export const CHUNK_WIDEN_AFTER_MS = 10_000;

/**
 * A job's chunks of input files grow as it goes: each run of this many chunks doubles what the next
 * may hold. The job item keeps a few bytes per chunk within DynamoDB's 400 KB (docs/batch.md, "A
 * limit of this design"), so a job's chunk count must grow slower than its items: a job of 10
 * million items of a model that does not batch has about 8,400 chunks, where chunks of a fixed 32
 * items would need 312,500. Chunks of small jobs keep their size, and with it their parallelism.
 */
export const FILE_CHUNK_SCALE_STEP = 1024;
/**
 * The most input bytes a grown chunk of an input file holds (its results are bounded alike): what a
 * worker reads and parses at once stays far below its memory.
 */
export const FILE_CHUNK_MAX_BYTES = 16 * 1024 * 1024;

/** The model's batches per chunk: enough for `items` (FILE_CHUNK_ITEMS for input files), at most FILE_CHUNK_REQUESTS. */
export const fileChunkBatches = (signature: ModelSignature, items = FILE_CHUNK_ITEMS) =>
  Math.min(FILE_CHUNK_REQUESTS, Math.ceil(items / signature.maxBatchSize));

/**
 * The limits of chunk `chunk` of a job's input files: `batches` of the model's batches (of items,
 * one request each, for a model that does not batch), times two for every FILE_CHUNK_SCALE_STEP
 * chunks before it, in bytes up to FILE_CHUNK_MAX_BYTES. A function of the chunk's number alone, so
 * that every scan from one cursor plans the same chunks.
 */
export function fileChunkLimits(signature: ModelSignature, batches?: number, chunk = 0): ChunkLimits {
  const limits = chunkLimits(signature);
  const batchItems = signature.maxBatchSize > 0 ? limits.maxItems : 1;
  const n = batches ?? fileChunkBatches(signature);
  const scale = 2 ** Math.min(Math.floor(chunk / FILE_CHUNK_SCALE_STEP), 20);
  const bytes = limits.maxBytes * n;
  return {
    ...limits,
    maxItems: batchItems * n * scale,
    maxBytes: Math.max(bytes, Math.min(bytes * scale, FILE_CHUNK_MAX_BYTES)),
  };
}

/** Items per chunk for a model that does not batch (each item then goes as its own request). */
const UNBATCHED_CHUNK_ITEMS = 16;

/**
 * A table job's chunk (its items in a DynamoDB item, MAX_CHUNK_BYTES) holds as many of the model's
 * batches as make up this many items, at most FILE_CHUNK_REQUESTS of them. With a chunk per batch, a
 * 20-item job of a model whose batches hold 16 was two chunks, each waiting for a worker of its own,
 * and a 100,000-item job of a model whose batches hold 1 was 100,000 chunks, past what the job item's
 * per-chunk sets can hold (docs/batch.md, "A limit of this design").
 */
export const TABLE_CHUNK_ITEMS = 1024;

/** The limits of a table job's chunks: the model's batches up to `chunkItems` items. */
export function tableChunkLimits(signature: ModelSignature, chunkItems = TABLE_CHUNK_ITEMS): ChunkLimits {
  const limits = chunkLimits(signature);
  if (signature.maxBatchSize <= 0) return limits;
  return { ...limits, maxItems: signature.maxBatchSize * fileChunkBatches(signature, chunkItems) };
}

/**
 * The longest JSON text of one element of each datatype, as the worker stores it: integers at
 * their extremes (64-bit ones parse to doubles of at most 20 characters below 1e21), and for floats
 * the longest number JavaScript prints (a sign, 17 significant digits and `0.00000`, or an exponent).
 */
const ELEMENT_JSON_BYTES: Record<Exclude<Datatype, 'BYTES'>, number> = {
  BOOL: 5,
  UINT8: 3,
  UINT16: 5,
  UINT32: 10,
  UINT64: 20,
  INT8: 4,
  INT16: 6,
  INT32: 11,
  INT64: 20,
  FP16: 25,
  FP32: 25,
  FP64: 25,
};

/**
 * The largest item index a job can have, for its digits: 100,000 items in a body, and for input
 * files, lines of at least 12 bytes (`{"inputs":[]}`) in inputs of MAX_BATCH_INPUT_BYTES each.
 */
const LARGEST_INDEX = 99_999_999_999;

export function chunkLimits(signature: ModelSignature): ChunkLimits {
  const resultBytes = resultBytesBeyondId(signature);
  const fixed = signature.inputs.every((input) => itemDims(signature, input).every((d) => d >= 0));
  return {
    maxItems: signature.maxBatchSize > 0 ? signature.maxBatchSize : UNBATCHED_CHUNK_ITEMS,
    maxBytes: MAX_CHUNK_BYTES,
    ...(resultBytes === undefined ? {} : { resultBytes }),
    ...(fixed ? { fixedInputShapes: true as const } : {}),
  };
}

/**
 * An upper bound of an item's stored result without its id: `{"index":…,"outputs":[…]}` and the
 * comma that separates it from the next, with every output at its signature's shape (dim 0 is 1
 * for a batching model) and every element at its datatype's longest. Undefined when a BYTES output
 * or a variable dimension leaves the size open.
 */
function resultBytesBeyondId(signature: ModelSignature): number | undefined {
  let elementBytes = 0;
  const outputs: OutputTensor[] = [];
  for (const output of signature.outputs) {
    if (output.datatype === 'BYTES') return undefined;
    const dims = itemDims(signature, output);
    if (dims.some((d) => d < 0)) return undefined;
    const count = elementCount(dims);
    // Each element, and the comma after it.
    elementBytes += count * (ELEMENT_JSON_BYTES[output.datatype] + 1);
    const shape = signature.maxBatchSize > 0 ? [1, ...dims] : [...dims];
    outputs.push({ name: output.name, datatype: output.datatype, shape, data: [] });
  }
  return Buffer.byteLength(JSON.stringify({ index: LARGEST_INDEX, outputs })) + 1 + elementBytes;
}

/** Each item's size, once: checked as it is read, then planned into batches by it. */
const sizes = new WeakMap<StoredItem, number>();

/**
 * One item as the worker sends it, checked against the version's signature; a refusal is thrown as
 * an InvalidInferenceRequestError. Input files' lines are checked the same way.
 */
export function storedItem(
  version: ModelVersion,
  item: { readonly id?: string; readonly inputs: readonly unknown[] },
  /** The item's size when it is known without printing it: an input file's line, as the scan planned it. */
  bytes?: number,
): StoredItem {
  const request = parseInferenceRequest({ inputs: item.inputs });
  validateAgainstSignature(request, version, version.name);
  if (version.maxBatchSize > 0 && request.inputs.some((input) => input.shape[0] !== 1)) {
    throw new InvalidInferenceRequestError('each input must have batch dimension 1 (one item, one row)');
  }
  const stored: StoredItem = { ...(item.id === undefined ? {} : { id: item.id }), inputs: request.inputs };
  if (bytes !== undefined) sizes.set(stored, bytes);
  if (itemBytes(stored) > MAX_CHUNK_BYTES) {
    throw new InvalidInferenceRequestError(`the item is larger than ${MAX_CHUNK_BYTES} bytes`);
  }
  return stored;
}

/** Byte size of an item as stored: its JSON, or for an input file's item its line. */
export function itemBytes(item: StoredItem): number {
  let bytes = sizes.get(item);
  if (bytes === undefined) {
    bytes = Buffer.byteLength(JSON.stringify(item));
    sizes.set(item, bytes);
  }
  return bytes;
}

/** The most bytes an item's stored result takes, or 0 when the limits cannot tell. */
function resultBound(item: StoredItem, limits: ChunkLimits): number {
  if (limits.resultBytes === undefined) return 0;
  // `,"id":` and the id as JSON.
  const id = item.id === undefined ? 0 : 6 + Buffer.byteLength(JSON.stringify(item.id));
  return limits.resultBytes + id;
}

/**
 * An item's share of a chunk: its stored bytes, its result bound and its shapes beyond dim 0. An
 * item that fails without inference (an input file's bad line) has no shape: it joins any chunk.
 */
export interface ItemFootprint {
  readonly bytes: number;
  readonly result: number;
  readonly shape?: string;
}

export function footprintOf(item: StoredItem, limits: ChunkLimits, bytes = itemBytes(item)): ItemFootprint {
  return { bytes, result: resultBound(item, limits), shape: shapeKey(item) };
}

/**
 * Plans contiguous chunks one item at a time, in item order, holding nothing but the open chunk's
 * sums: no more than `maxItems` items, `maxBytes` bytes of inputs and, where the signature bounds
 * them, of results, and only items whose inputs have the same shapes beyond dim 0 (so they can be
 * concatenated). An item larger than `maxBytes` on its own is the caller's to refuse before; an item
 * whose result bound alone is larger goes in a chunk of its own (the bound is an upper bound: its
 * actual outputs may still fit).
 */
export class ChunkPlanner {
  private count = 0;
  private bytes = 0;
  private results = 0;
  private shape: string | undefined;

  /** The limits of the chunk still open: they may grow while it is open (`fileChunkLimits`). */
  constructor(public limits: ChunkLimits) {}

  /** Items in the chunk still open. */
  get open(): number {
    return this.count;
  }

  /** Adds the next item; returns how many items the chunk it closed holds (0: it joined the open one). */
  add(item: ItemFootprint): number {
    const fits =
      this.count < this.limits.maxItems &&
      this.bytes + item.bytes <= this.limits.maxBytes &&
      this.results + item.result <= this.limits.maxBytes &&
      (this.shape === undefined || item.shape === undefined || item.shape === this.shape);
    let closed = 0;
    if (!fits && this.count > 0) {
      closed = this.count;
      this.count = 0;
      this.bytes = 0;
      this.results = 0;
      this.shape = undefined;
    }
    this.count++;
    this.bytes += item.bytes;
    this.results += item.result;
    this.shape ??= item.shape;
    return closed;
  }

  /** Closes the open chunk; returns how many items it holds. */
  close(): number {
    const closed = this.count;
    this.count = 0;
    this.bytes = 0;
    this.results = 0;
    this.shape = undefined;
    return closed;
  }
}

/** Contiguous chunks of item indices, in item order, by the rules of `ChunkPlanner`. */
export function planChunks(items: readonly StoredItem[], limits: ChunkLimits): number[][] {
  const planner = new ChunkPlanner(limits);
  const chunks: number[][] = [];
  let current: number[] = [];
  items.forEach((item, index) => {
    if (planner.add(footprintOf(item, limits)) > 0) {
      chunks.push(current);
      current = [];
    }
    current.push(index);
  });
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function shapeKey(item: StoredItem): string {
  return item.inputs.map((i) => `${i.name}:${i.datatype}:${i.shape.slice(1).join('x')}`).join('|');
}

/** One v2 request for a chunk: each input concatenated along dim 0, in the first item's input order. */
export function batchedRequest(items: readonly StoredItem[]): { inputs: InputTensor[] } {
  const first = items[0];
  if (!first) throw new Error('a chunk has at least one item');
  return {
    inputs: first.inputs.map((input) => {
      const parts = items.map((item) => {
        const found = item.inputs.find((i) => i.name === input.name);
        if (!found) throw new Error(`item ${item.id ?? ''} has no input '${input.name}'`);
        return found;
      });
      const rows = parts.reduce((sum, part) => sum + (part.shape[0] ?? 1), 0);
      return {
        name: input.name,
        datatype: input.datatype,
        shape: [rows, ...input.shape.slice(1)],
        data: concatenated(parts.map((part) => part.data)),
      };
    }),
  };
}

/** Parts concatenated per call to `concat`, well below the engine's limit on a call's arguments. */
const CONCAT_PARTS = 4_096;

/**
 * The elements of `parts` in one array. `concat` copies an array's elements wholesale, where `flat`
 * or `flatMap` visit each one: 0.3 against 37 µs for an item of 512 numbers.
 */
function concatenated(parts: readonly TensorData[]): (TensorElement | bigint)[] {
  let all: (TensorElement | bigint)[] = [];
  for (let start = 0; start < parts.length; start += CONCAT_PARTS) {
    const arrays = parts
      .slice(start, start + CONCAT_PARTS)
      .map((part) => (Array.isArray(part) ? part : Array.from(part)));
    all = all.concat(...arrays);
  }
  return all;
}

/** A batched answer that does not split into the items it was asked for. */
export class UnsplittableAnswerError extends Error {
  override readonly name = 'UnsplittableAnswerError';
}

/** Splits each output of a batched answer by dim 0 into `count` answers of batch 1, in item order. */
export function splitOutputs(outputs: readonly OutputTensor[], count: number): OutputTensor[][] {
  const perItem: OutputTensor[][] = Array.from({ length: count }, () => []);
  for (const output of outputs) {
    if (output.shape[0] !== count) {
      throw new UnsplittableAnswerError(
        `output '${output.name}' has dim 0 of ${output.shape[0] ?? 'none'}, expected ${count} items`,
      );
    }
    const data = Array.from(output.data as ArrayLike<unknown>);
    const size = elementCount(output.shape.slice(1));
    if (data.length !== size * count) {
      throw new UnsplittableAnswerError(
        `output '${output.name}' has ${data.length} elements, expected ${size * count}`,
      );
    }
    for (let i = 0; i < count; i++) {
      perItem[i]!.push({
        name: output.name,
        datatype: output.datatype,
        shape: [1, ...output.shape.slice(1)],
        data: data.slice(i * size, (i + 1) * size) as OutputTensor['data'],
      });
    }
  }
  return perItem;
}
