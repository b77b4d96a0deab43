import { describe, expect, it } from 'vitest';
import { itemBytes, MAX_CHUNK_BYTES } from '../../functions/batch/chunking';
import { parseLine } from '../../functions/batch/input-lines';
import { SIMPLE_VERSION } from '../helpers/simple-model';

const simple = SIMPLE_VERSION;
const sixteen = (value: number) => Array.from({ length: 16 }, () => value);
const itemJson = (padding = '') =>
  `{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":[${sixteen(1e3).join(',')}]},${padding}` +
  `{"name":"INPUT1","shape":[1,16],"datatype":"INT32","data":[${sixteen(1).join(',')}]}]}`;
const line = (text: string) => ({ start: 0, end: text.length, number: 7, bytes: Buffer.from(text) });

describe('parseLine sizes an item by its line, as the scan plans it', () => {
  it('gives the item the size of its line, not of the item printed again', () => {
    const text = itemJson(' '.repeat(100));
    const parsed = parseLine(simple, line(text));
    expect('item' in parsed && itemBytes(parsed.item)).toBe(Buffer.byteLength(text));
  });

  it('fails a line over the size an item may take, with its line number, whatever it holds', () => {
    const parsed = parseLine(simple, line(itemJson(' '.repeat(MAX_CHUNK_BYTES))));
    expect(parsed).toEqual({ error: `line 7: the item is larger than ${MAX_CHUNK_BYTES} bytes` });
  });
});
