import { describe, expect, it } from 'vitest';
import { parseTritonJson, stringifyTritonJson } from '../../functions/inference/triton-json';

describe('Triton JSON', () => {
  // TritonJson parses and writes NaN, Infinity and -Infinity as bare tokens (triton_json.h).
  it('reads the non-finite tokens Triton writes, outside strings only', () => {
    const text =
      '{"id":"NaN Infinity -Infinity","outputs":[{"name":"Infinity","data":[NaN,1.5,Infinity,-Infinity,-2]}]}';
    expect(parseTritonJson(text)).toEqual({
      id: 'NaN Infinity -Infinity',
      outputs: [
        {
          name: 'Infinity',
          data: [Number.NaN, 1.5, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -2],
        },
      ],
    });
  });

  it('keeps escaped quotes inside strings from ending them early', () => {
    expect(parseTritonJson('{"a":"x\\"NaN\\\\","b":[NaN]}')).toEqual({ a: 'x"NaN\\', b: [Number.NaN] });
  });

  it('refuses what is not JSON either way', () => {
    expect(() => parseTritonJson('{"a":nan}')).toThrow(SyntaxError);
    expect(() => parseTritonJson('{"a":[NaN}')).toThrow(SyntaxError);
    expect(() => parseTritonJson('NaNa')).toThrow(SyntaxError);
  });

  it('writes non-finite numbers as Triton writes them and reads them back', () => {
    const value = { data: [Number.NaN, 1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], s: 'NaN' };
    const text = stringifyTritonJson(value);
    expect(text).toBe('{"data":[NaN,1,Infinity,-Infinity],"s":"NaN"}');
    expect(parseTritonJson(text)).toEqual(value);
  });

  it('writes finite values exactly as JSON.stringify does', () => {
    const value = { id: 'x', data: [1, -0.5, 3e100], nested: { ok: true, none: null } };
    expect(stringifyTritonJson(value)).toBe(JSON.stringify(value));
  });
});
