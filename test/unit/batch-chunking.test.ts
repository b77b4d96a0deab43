import { describe, expect, it } from 'vitest';
import type { ModelSignature } from '../../contracts/model-signature';
import { countsOf, terminalStatus } from '../../functions/batch/accounting';
import type { ItemResult } from '../../functions/batch/api-schemas';
import { MAX_RESULT_PART_BYTES } from '../../functions/batch/batch-store';
import {
  batchedRequest,
  chunkLimits,
  FILE_CHUNK_ITEMS,
  FILE_CHUNK_MAX_BYTES,
  FILE_CHUNK_REQUESTS,
  FILE_CHUNK_SCALE_STEP,
  fileChunkLimits,
  MAX_CHUNK_BYTES,
  planChunks,
  type StoredItem,
  splitOutputs,
  TABLE_CHUNK_ITEMS,
  tableChunkLimits,
  UnsplittableAnswerError,
} from '../../functions/batch/chunking';
import { jobIdFor } from '../../functions/batch/submission';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const item = (value: number, width = 16): StoredItem => ({
  id: `item-${value}`,
  inputs: [
    {
      name: 'INPUT0',
      datatype: 'INT32',
      shape: [1, width],
      data: Array.from({ length: width }, () => value),
    },
    { name: 'INPUT1', datatype: 'INT32', shape: [1, width], data: Array.from({ length: width }, () => 1) },
  ],
});

describe('planChunks', () => {
  it('splits items into chunks of at most max_batch_size, in item order', () => {
    const items = Array.from({ length: 20 }, (_, i) => item(i));
    const chunks = planChunks(items, chunkLimits(SIMPLE_SIGNATURE));
    expect(chunks.map((c) => c.length)).toEqual([8, 8, 4]);
    expect(chunks.flat()).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('closes a chunk before it grows past the byte limit', () => {
    const items = Array.from({ length: 10 }, (_, i) => item(i));
    const size = Buffer.byteLength(JSON.stringify(items[0]));
    const chunks = planChunks(items, { maxItems: 100, maxBytes: size * 3 + 1 });
    expect(chunks.map((c) => c.length)).toEqual([3, 3, 3, 1]);
  });

  it('starts a new chunk when an item has other shapes beyond the batch dimension', () => {
    const chunks = planChunks([item(0), item(1), item(2, 8), item(3)], chunkLimits(SIMPLE_SIGNATURE));
    expect(chunks).toEqual([[0, 1], [2], [3]]);
  });

  /** A chunk's results with every output element at its datatype's longest JSON. */
  function longestResults(
    items: readonly StoredItem[],
    first: number,
    signature: ModelSignature,
  ): ItemResult[] {
    const longest = { INT32: -2147483648, FP32: -0.0000012345678901234567 } as Record<string, number>;
    return items.map((stored, i) => ({
      index: first + i,
      ...(stored.id === undefined ? {} : { id: stored.id }),
      outputs: signature.outputs.map((output) => {
        const dims = output.shape.slice(1);
        const count = dims.reduce((a, b) => a * b, 1);
        return {
          name: output.name,
          datatype: output.datatype,
          shape: [1, ...dims],
          data: Array.from({ length: count }, () => longest[output.datatype]),
        };
      }),
    }));
  }

  function expectResultsFit(items: readonly StoredItem[], signature: ModelSignature) {
    const chunks = planChunks(items, chunkLimits(signature));
    expect(chunks.flat()).toEqual(items.map((_, i) => i));
    for (const indices of chunks) {
      const results = longestResults(
        indices.map((i) => items[i]!),
        indices[0]!,
        signature,
      );
      expect(Buffer.byteLength(JSON.stringify(results))).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
    }
    return chunks;
  }

  it('keeps the results of tiny items with long ids within one result item', () => {
    // A model that takes large batches, and 1,000-character ids: results outweigh inputs.
    const signature = { ...SIMPLE_SIGNATURE, maxBatchSize: 4096 };
    const items = Array.from({ length: 3000 }, (_, i) => ({
      ...item(0),
      id: `${i}-`.padEnd(1000, 'x'),
    }));
    const chunks = expectResultsFit(items, signature);
    expect(MAX_CHUNK_BYTES).toBeLessThan(MAX_RESULT_PART_BYTES);
    expect(chunks.length).toBeGreaterThan(1);
  });

  it('sizes chunks by fixed outputs much larger than their inputs', () => {
    const signature: ModelSignature = {
      ...SIMPLE_SIGNATURE,
      outputs: [{ name: 'EMBEDDING', datatype: 'FP32', shape: [-1, 4096] }],
      maxBatchSize: 64,
    };
    const chunks = expectResultsFit(
      Array.from({ length: 20 }, (_, i) => item(i)),
      signature,
    );
    // 4,096 floats of up to 25 characters each: two items' results per chunk.
    expect(chunks.map((c) => c.length)).toEqual(Array.from({ length: 10 }, () => 2));
  });

  it('gives an item whose result bound alone is too large a chunk of its own', () => {
    const signature: ModelSignature = {
      ...SIMPLE_SIGNATURE,
      outputs: [{ name: 'EMBEDDING', datatype: 'FP64', shape: [-1, 20_000] }],
    };
    expect(planChunks([item(0), item(1), item(2)], chunkLimits(signature))).toEqual([[0], [1], [2]]);
  });

  it.each([
    ['a BYTES output', { name: 'LABEL', datatype: 'BYTES', shape: [-1, 1] }],
    ['a variable dimension', { name: 'OUTPUT0', datatype: 'INT32', shape: [-1, -1] }],
  ] as const)('sizes chunks by their inputs alone when %s leaves the outputs open', (_case, output) => {
    const limits = chunkLimits({ ...SIMPLE_SIGNATURE, outputs: [output] });
    expect(limits.resultBytes).toBeUndefined();
    expect(
      planChunks(
        Array.from({ length: 20 }, (_, i) => item(i)),
        limits,
      ).map((c) => c.length),
    ).toEqual([8, 8, 4]);
  });

  it('bounds the outputs of a model that does not batch by their whole shape', () => {
    const signature: ModelSignature = {
      inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [16] }],
      outputs: [{ name: 'OUTPUT0', datatype: 'INT32', shape: [16] }],
      maxBatchSize: 0,
    };
    const result = {
      index: 99_999_999_999,
      outputs: [{ name: 'OUTPUT0', datatype: 'INT32', shape: [16], data: [] }],
    };
    const limits = chunkLimits(signature);
    expect(limits.resultBytes).toBe(Buffer.byteLength(JSON.stringify(result)) + 1 + 16 * 12);
  });

  it('uses small chunks for a model that does not batch', () => {
    expect(chunkLimits({ ...SIMPLE_SIGNATURE, maxBatchSize: 0 }).maxItems).toBeGreaterThan(0);
  });

  it("fills a table job's chunk with the model's batches up to TABLE_CHUNK_ITEMS, within the chunk's bytes", () => {
    const limits = (maxBatchSize: number) => tableChunkLimits({ ...SIMPLE_SIGNATURE, maxBatchSize });
    expect(limits(64)).toMatchObject({ maxItems: TABLE_CHUNK_ITEMS, maxBytes: MAX_CHUNK_BYTES });
    // Batches larger than that keep a chunk of one batch; smaller ones, at most FILE_CHUNK_REQUESTS.
    expect(limits(4096).maxItems).toBe(4096);
    expect(limits(8).maxItems).toBe(8 * FILE_CHUNK_REQUESTS);
    // A model that does not batch keeps its small chunks: each item is a request of its own.
    expect(limits(0).maxItems).toBe(chunkLimits({ ...SIMPLE_SIGNATURE, maxBatchSize: 0 }).maxItems);
    // A body's most items of a model whose batches hold one: 3,125 chunks, not 100,000 (each takes
    // bytes on the job item, which DynamoDB holds to 400 KB).
    const tiny: StoredItem = { inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 1], data: [1] }] };
    const chunks = planChunks(Array<StoredItem>(100_000).fill(tiny), limits(1));
    expect(chunks.length).toBe(100_000 / FILE_CHUNK_REQUESTS);
    // Items of 512 floats: as many as the chunk's bytes hold.
    const wide: StoredItem = {
      inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 512], data: Array(512).fill(-0.123456) }],
    };
    const perChunk = Math.floor(MAX_CHUNK_BYTES / Buffer.byteLength(JSON.stringify(wide)));
    expect(planChunks(Array<StoredItem>(1_000).fill(wide), limits(16))[0]!.length).toBe(perChunk);
  });

  it("fills a chunk of an input file with the model's batches up to its items, within its requests", () => {
    const limits = (maxBatchSize: number) => fileChunkLimits({ ...SIMPLE_SIGNATURE, maxBatchSize });
    // Large batches: as many as FILE_CHUNK_ITEMS take.
    expect(limits(1024)).toMatchObject({ maxItems: FILE_CHUNK_ITEMS, maxBytes: 8 * MAX_CHUNK_BYTES });
    expect(limits(FILE_CHUNK_ITEMS * 2)).toMatchObject({
      maxItems: FILE_CHUNK_ITEMS * 2,
      maxBytes: MAX_CHUNK_BYTES,
    });
    // Small batches: no more than FILE_CHUNK_REQUESTS of them, sent at once.
    expect(limits(16)).toMatchObject({
      maxItems: 16 * FILE_CHUNK_REQUESTS,
      maxBytes: FILE_CHUNK_REQUESTS * MAX_CHUNK_BYTES,
    });
    expect(limits(1).maxItems).toBe(FILE_CHUNK_REQUESTS);
    // A model that does not batch: one request per item, as many items as requests.
    expect(limits(0)).toMatchObject({
      maxItems: FILE_CHUNK_REQUESTS,
      maxBytes: FILE_CHUNK_REQUESTS * MAX_CHUNK_BYTES,
    });
  });

  it('doubles a chunk of an input file every FILE_CHUNK_SCALE_STEP chunks, in bytes up to FILE_CHUNK_MAX_BYTES', () => {
    const signature = { ...SIMPLE_SIGNATURE, maxBatchSize: 16 };
    const at = (chunk: number) => fileChunkLimits(signature, undefined, chunk);
    expect(at(FILE_CHUNK_SCALE_STEP - 1)).toEqual(at(0));
    expect(at(FILE_CHUNK_SCALE_STEP).maxItems).toBe(2 * at(0).maxItems);
    expect(at(3 * FILE_CHUNK_SCALE_STEP).maxItems).toBe(8 * at(0).maxItems);
    expect(at(FILE_CHUNK_SCALE_STEP).maxBytes).toBe(FILE_CHUNK_MAX_BYTES);
    // A base already above the cap keeps its own.
    const wide = (chunk: number) => fileChunkLimits(signature, 64, chunk);
    expect(wide(FILE_CHUNK_SCALE_STEP * 5).maxBytes).toBe(64 * MAX_CHUNK_BYTES);
  });

  it('plans a job of 10 million items in few enough chunks for the job item, whatever the model batches', () => {
    /** The chunks of `items` lines of `lineBytes` each, as the scan closes them by these limits. */
    const chunksOf = (maxBatchSize: number, items: number, lineBytes: number) => {
      const signature = { ...SIMPLE_SIGNATURE, maxBatchSize };
      let planned = 0;
      let chunk = 0;
      while (planned < items) {
        const limits = fileChunkLimits(signature, undefined, chunk);
        planned += Math.max(1, Math.min(limits.maxItems, Math.floor(limits.maxBytes / lineBytes)));
        chunk++;
      }
      return chunk;
    };
    for (const maxBatchSize of [0, 1, 8, 16, 1024]) {
      // Iris-sized lines and lines of 512 floats: at chunks of a fixed size, up to 625,000 chunks.
      expect(chunksOf(maxBatchSize, 10_000_000, 110)).toBeLessThan(9_000);
      expect(chunksOf(maxBatchSize, 10_000_000, 3_100)).toBeLessThan(9_000);
    }
  });
});

describe('batchedRequest', () => {
  it('concatenates each input along dim 0', () => {
    const request = batchedRequest([item(1, 2), item(2, 2), item(3, 2)]);
    expect(request.inputs).toEqual([
      { name: 'INPUT0', datatype: 'INT32', shape: [3, 2], data: [1, 1, 2, 2, 3, 3] },
      { name: 'INPUT1', datatype: 'INT32', shape: [3, 2], data: [1, 1, 1, 1, 1, 1] },
    ]);
  });

  it('keeps every element in item order, in batches of more items than one concatenation takes', () => {
    const items = Array.from({ length: 10_000 }, (_, i) => item(i, 1));
    const [input] = batchedRequest(items).inputs;
    expect(input!.shape).toEqual([10_000, 1]);
    expect(input!.data).toEqual(items.map((_, i) => i));
  });

  it('copies elements held in typed arrays, as binary inputs are', () => {
    const typed: StoredItem = {
      inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 2], data: Int32Array.of(7, 8) }],
    };
    expect(batchedRequest([typed, item(1, 2)]).inputs[0]!.data).toEqual([7, 8, 1, 1]);
  });
});

describe('splitOutputs', () => {
  it('splits a batched answer back into one answer per item', () => {
    const outputs = splitOutputs(
      [
        { name: 'OUTPUT0', datatype: 'INT32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
        { name: 'LABEL', datatype: 'BYTES', shape: [2], data: ['a', 'b'] },
      ],
      2,
    );
    expect(outputs).toEqual([
      [
        { name: 'OUTPUT0', datatype: 'INT32', shape: [1, 3], data: [1, 2, 3] },
        { name: 'LABEL', datatype: 'BYTES', shape: [1], data: ['a'] },
      ],
      [
        { name: 'OUTPUT0', datatype: 'INT32', shape: [1, 3], data: [4, 5, 6] },
        { name: 'LABEL', datatype: 'BYTES', shape: [1], data: ['b'] },
      ],
    ]);
  });

  it.each([
    ['dim 0 is not the item count', { shape: [3, 2], data: [1, 2, 3, 4, 5, 6] }],
    ['the data does not fill the shape', { shape: [2, 2], data: [1, 2, 3] }],
  ])('refuses an answer whose %s', (_case, tensor) => {
    expect(() => splitOutputs([{ name: 'OUTPUT0', datatype: 'INT32', ...tensor }], 2)).toThrow(
      UnsplittableAnswerError,
    );
  });
});

describe('job accounting', () => {
  it.each([
    [{ succeeded: 5, failed: 0, cancelled: 0 }, 'SUCCEEDED'],
    [{ succeeded: 4, failed: 1, cancelled: 0 }, 'COMPLETED_WITH_ERRORS'],
    [{ succeeded: 0, failed: 5, cancelled: 0 }, 'FAILED'],
    [{ succeeded: 3, failed: 1, cancelled: 1 }, 'CANCELLED'],
    // Input files not read to their end: what was read may all have succeeded, the job did not.
    [
      { succeeded: 5, failed: 0, cancelled: 0, statusReason: 'input 0 not read from line 9' },
      'COMPLETED_WITH_ERRORS',
    ],
    [{ succeeded: 0, failed: 0, cancelled: 0, statusReason: 'input 0 not read from line 1' }, 'FAILED'],
    [{ succeeded: 0, failed: 0, cancelled: 2, statusReason: 'input 0 not read from line 3' }, 'CANCELLED'],
    // A cancel accepted whose last unstarted chunk a duplicate delivery recorded meanwhile.
    [{ succeeded: 5, failed: 0, cancelled: 0, cancelRequestedAt: '2026-12-05T05:00:00.000Z' }, 'CANCELLED'],
  ] as const)('ends a job with counts %o as %s', (counts, status) => {
    expect(terminalStatus(counts)).toBe(status);
  });

  it('counts each kind of item result', () => {
    expect(
      countsOf([
        { index: 0, outputs: [] },
        { index: 1, error: 'bad' },
        { index: 2, cancelled: true },
        { index: 3, outputs: [] },
      ]),
    ).toEqual({ succeeded: 2, failed: 1, cancelled: 1 });
  });

  it('derives the same job id from the same owner and idempotency key, and another for another owner', () => {
    expect(jobIdFor('alice', 'k1')).toBe(jobIdFor('alice', 'k1'));
    expect(jobIdFor('alice', 'k1')).not.toBe(jobIdFor('bob', 'k1'));
    expect(jobIdFor('alice', 'k1')).toMatch(/^key\.[A-Za-z0-9_-]{43}$/);
  });
});
