import { describe, expect, it } from 'vitest';
import { SubmitBatchJobSchema } from '../../functions/batch/api-schemas';
import { fileChunkLimits, itemBytes, MAX_CHUNK_BYTES } from '../../functions/batch/chunking';
import { parseLine, planningFootprint } from '../../functions/batch/input-lines';
import { SIMPLE_SIGNATURE, SIMPLE_VERSION } from '../helpers/simple-model';

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

  it('fails a line asking for outputs or parameters, which a batch item cannot have, with its line number', () => {
    for (const key of ['outputs', 'parameters']) {
      const parsed = parseLine(simple, line(`{"${key}":{},${itemJson().slice(1)}`));
      expect(parsed).toEqual({ error: expect.stringMatching(new RegExp(`^line 7: not an item .*${key}`)) });
    }
  });

  it('fails a line over the size an item may take, with its line number, whatever it holds', () => {
    const parsed = parseLine(simple, line(itemJson(' '.repeat(MAX_CHUNK_BYTES))));
    expect(parsed).toEqual({ error: `line 7: the item is larger than ${MAX_CHUNK_BYTES} bytes` });
  });
});

describe('planningFootprint', () => {
  const limits = fileChunkLimits(SIMPLE_SIGNATURE);
  const resultBytes = limits.resultBytes!;
  const withId = (key: string, id: string) => `{${key}:${JSON.stringify(id)},${itemJson().slice(1)}`;

  it('sizes a line without an id by its length and the result bound, without reading it as JSON', () => {
    expect(limits.fixedInputShapes).toBe(true);
    const valid = itemJson();
    expect(planningFootprint(line(valid), limits)).toEqual({ bytes: valid.length, result: resultBytes });
    // Not JSON, so parsing it would have given it no room: it takes its bytes, more than it needs.
    expect(planningFootprint(line('{"inputs": ['), limits)).toEqual({ bytes: 12, result: resultBytes });
  });

  it("reads a line that has an id, or an escape that could spell one, and bounds its result by the id's size", () => {
    const id = 'x'.repeat(500);
    for (const key of ['"id"', '"\\u0069d"']) {
      const text = withId(key, id);
      expect(planningFootprint(line(text), limits)).toMatchObject({
        bytes: text.length,
        result: resultBytes + 6 + id.length + 2,
      });
    }
  });

  it('reads every line of a model whose inputs have a variable dimension', () => {
    const variable = {
      ...SIMPLE_SIGNATURE,
      inputs: SIMPLE_SIGNATURE.inputs.map((input) => ({ ...input, shape: [-1, -1] })),
    };
    const open = fileChunkLimits(variable);
    expect(open.fixedInputShapes).toBeUndefined();
    expect(planningFootprint(line('{"inputs": ['), open)).toEqual({ bytes: 0, result: 0 });
    expect(planningFootprint(line(itemJson()), open).shape).toBe('INPUT0:INT32:16|INPUT1:INT32:16');
  });
});

describe('a batch job body', () => {
  it('refuses an item asking for outputs or parameters, naming the item, rather than dropping them', () => {
    const item = JSON.parse(itemJson());
    for (const key of ['outputs', 'parameters']) {
      const parsed = SubmitBatchJobSchema.safeParse({
        model: 'simple',
        items: [item, { ...item, [key]: {} }],
      });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues).toEqual([
        expect.objectContaining({ code: 'unrecognized_keys', keys: [key], path: ['items', 1] }),
      ]);
    }
  });
});
