import { afterEach, describe, expect, it, vi } from 'vitest';
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

  // rapidjson's own vectors for kParseNanAndInfFlag, which TritonJson parses with: Tencent/rapidjson,
  // test/unittest/readertest.cpp, TEST(Reader, ParseNanAndInfinity).
  it.each([
    ['NaN', Number.NaN],
    ['-NaN', Number.NaN],
    ['Inf', Number.POSITIVE_INFINITY],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Inf', Number.NEGATIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])("reads rapidjson's %s as it does", (text, value) => {
    expect(parseTritonJson(text)).toBe(value);
  });

  it.each(['NInf', 'NaInf', 'INan', 'InNan', 'nan', '-nan', 'NAN', '-Infinty', 'NaN.2e2', 'Inf.2', '-InfE2'])(
    "refuses rapidjson's %s as it does",
    (text) => {
      expect(() => parseTritonJson(text)).toThrow(SyntaxError);
    },
  );

  // rapidjson's ParseNumber with kParseNanAndInfFlag: NaN, Inf and Infinity, each with a sign.
  it('reads every token rapidjson reads, and refuses a token run into a number', () => {
    expect(parseTritonJson('[-NaN,Inf,-Inf,Infinity,-Infinity]')).toEqual([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
    expect(parseTritonJson('NaN')).toBeNaN();
    for (const text of ['[1Inf]', '[NaN5]', '[Infinit]', '[1e309,NaN]']) {
      expect(() => parseTritonJson(text), text).toThrow(SyntaxError);
    }
  });

  // A scan that retried every unclosed quote took time by the square of the text: 320 KB held a
  // function past API Gateway's 29 s.
  it('scans in one pass, whatever quotes and escapes the text holds', () => {
    const quotes = `{"id":"NaN""${'\\"'.repeat(1_000_000)}}`;
    expect(() => parseTritonJson(quotes)).toThrow(SyntaxError);
    expect(() => parseTritonJson(`${quotes.slice(0, -1)}\\`)).toThrow(SyntaxError);
  });

  it('refuses with positions in the text as sent and the tokens as written', () => {
    const text = '{"inputs":[{"name":"F","shape":[1,4],"datatype":"FP32","data":[NaN,Infinity,2,3]} oops]}';
    expect(() => parseTritonJson(text)).toThrow(`position ${text.indexOf('oops')}`);
    expect(() => parseTritonJson('{"a":[\u00a0NaN]}')).toThrow('NaN]}" is not valid JSON');
  });

  it('keeps the last of duplicate keys, as JSON.parse does, when the first held a token', () => {
    expect(parseTritonJson('{"data":[NaN,1],"data":[2,3]}')).toEqual({ data: [2, 3] });
  });

  describe('when a value holds the random number that stands in for a token', () => {
    afterEach(() => vi.restoreAllMocks());

    it('draws another and reads and writes every value as it is', () => {
      // The first draw's sentinels are 1.25, 1.5 and 1.75; the value holds all three.
      const draws = [0.25, 0.5, 0.75];
      let next = 0;
      vi.spyOn(Math, 'random').mockImplementation(() => {
        next += 0.01;
        return draws.shift() ?? next;
      });
      const text = '{"a":[1.25,1.5,1.75,NaN,-Inf],"s":",1.5,"}';
      const value = parseTritonJson(text);
      expect(value).toEqual({ a: [1.25, 1.5, 1.75, Number.NaN, Number.NEGATIVE_INFINITY], s: ',1.5,' });
      draws.push(0.25, 0.5, 0.75);
      expect(stringifyTritonJson(value)).toBe('{"a":[1.25,1.5,1.75,NaN,-Infinity],"s":",1.5,"}');
      // The value is as it was before it was written.
      expect(value).toEqual({ a: [1.25, 1.5, 1.75, Number.NaN, Number.NEGATIVE_INFINITY], s: ',1.5,' });
    });
  });

  it('writes finite values exactly as JSON.stringify does', () => {
    const value = { id: 'x', data: [1, -0.5, 3e100], nested: { ok: true, none: null } };
    expect(stringifyTritonJson(value)).toBe(JSON.stringify(value));
  });
});
