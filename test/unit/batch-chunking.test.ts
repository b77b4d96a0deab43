import { describe, expect, it } from 'vitest';
import { countsOf, terminalStatus } from '../../functions/batch/accounting';
import {
  batchedRequest,
  chunkLimits,
  planChunks,
  type StoredItem,
  splitOutputs,
  UnsplittableAnswerError,
} from '../../functions/batch/chunking';
import { jobIdFor } from '../../functions/batch/submission';

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
    const chunks = planChunks(items, chunkLimits(8));
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
    const chunks = planChunks([item(0), item(1), item(2, 8), item(3)], chunkLimits(8));
    expect(chunks).toEqual([[0, 1], [2], [3]]);
  });

  it('uses small chunks for a model that does not batch', () => {
    expect(chunkLimits(0).maxItems).toBeGreaterThan(0);
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
