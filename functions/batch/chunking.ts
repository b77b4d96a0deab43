/**
 * Splitting a job's items into chunks, joining a chunk into one batched Open Inference Protocol
 * request (dim 0 = items), and splitting the batched answer back into one answer per item.
 */
import type { InputTensor, OutputTensor } from '../inference/protocol';
import { elementCount } from '../inference/protocol';

/** One stored item: its client id and its inputs, each with batch dimension 1 when the model batches. */
export interface StoredItem {
  readonly id?: string;
  readonly inputs: readonly InputTensor[];
}

/**
 * A chunk's stored form stays well under DynamoDB's 400 KB item limit; the batched request built
 * from it then stays far below SageMaker's 6 MB payload limit.
 */
export const MAX_CHUNK_BYTES = 300_000;

export interface ChunkLimits {
  /** Items per chunk: the model's `max_batch_size`, or a small number for models that do not batch. */
  readonly maxItems: number;
  readonly maxBytes: number;
}

/** Items per chunk for a model that does not batch (each item then goes as its own request). */
const UNBATCHED_CHUNK_ITEMS = 16;

export function chunkLimits(maxBatchSize: number): ChunkLimits {
  return { maxItems: maxBatchSize > 0 ? maxBatchSize : UNBATCHED_CHUNK_ITEMS, maxBytes: MAX_CHUNK_BYTES };
}

/** Byte size of an item as stored (its JSON). */
export function itemBytes(item: StoredItem): number {
  return Buffer.byteLength(JSON.stringify(item));
}

/**
 * Contiguous chunks of item indices, in item order: no more than `maxItems` items, `maxBytes` bytes,
 * and only items whose inputs have the same shapes beyond dim 0 (so they can be concatenated).
 * An item larger than `maxBytes` on its own is the caller's to refuse before.
 */
export function planChunks(items: readonly StoredItem[], limits: ChunkLimits): number[][] {
  const chunks: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  let shape = '';
  items.forEach((item, index) => {
    const size = itemBytes(item);
    const itemShape = shapeKey(item);
    const fits =
      current.length < limits.maxItems &&
      bytes + size <= limits.maxBytes &&
      (current.length === 0 || itemShape === shape);
    if (!fits && current.length > 0) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += size;
    shape = itemShape;
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
        data: parts.flatMap((part) => Array.from(part.data as ArrayLike<number>)),
      };
    }),
  };
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
