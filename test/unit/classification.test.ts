import { describe, expect, it } from 'vitest';
import {
  classificationOf,
  InvalidInferenceRequestError,
  validateAgainstSignature,
} from '../../functions/inference/protocol';
import { classify, formatFixed6 } from '../../local/model-server/classification';

const text = (data: unknown) => (data as Uint8Array[]).map((bytes) => new TextDecoder().decode(bytes));

// docs/protocol/extension_classification.md and src/classification.cc of triton-inference-server/server.
describe('classify', () => {
  it('returns the top k of each batch row as "<value>:<index>:<label>", highest first', () => {
    const tensor = {
      name: 'P',
      datatype: 'FP32',
      shape: [2, 4],
      data: Float32Array.from([1.1, 3.3, 0.5, 2.4, 4, 3, 2, 1]),
    } as const;

    const classes = classify(tensor, 2, true, ['a', 'b', 'c', 'd']);

    expect(classes).toMatchObject({ name: 'P', datatype: 'BYTES', shape: [2, 2] });
    expect(text(classes.data)).toEqual(['3.300000:1:b', '2.400000:3:d', '4.000000:0:a', '3.000000:1:b']);
  });

  it('ranks the whole tensor of a model that does not batch, and leaves out labels it does not have', () => {
    const tensor = {
      name: 'P',
      datatype: 'INT32',
      shape: [4],
      data: Int32Array.from([1, 5, 10, 4]),
    } as const;

    const classes = classify(tensor, 3, false, ['only-one']);

    expect(classes.shape).toEqual([3]);
    expect(text(classes.data)).toEqual(['10:2', '5:1', '4:3']);
  });

  it('prints values as glibc\'s printf("%f") does: exact, half to even, nan and inf with their sign', () => {
    // Each expected text is glibc 2.36's printf("%f") of the same double.
    const printed: [number, string][] = [
      [0.0078125, '0.007812'],
      [0.0000025, '0.000003'],
      [2.0000005, '2.000001'],
      [1e21, '1000000000000000000000.000000'],
      [3.4028234663852886e38, '340282346638528859811704183484516925440.000000'],
      [-0, '-0.000000'],
      [-1e-9, '-0.000000'],
      [123.4567895, '123.456789'],
      [4.9e-324, '0.000000'],
      [Math.fround(0.1), '0.100000'],
    ];
    for (const [value, text] of printed)
      expect(formatFixed6(value, value < 0 || Object.is(value, -0))).toBe(text);
    // inf, -nan, nan, -inf, by their bits: a NaN's sign is in its bits only.
    const bits = Uint32Array.from([0x7f800000, 0xffc00000, 0x7fc00000, 0xff800000]);
    const tensor = {
      name: 'P',
      datatype: 'FP32',
      shape: [4],
      data: new Float32Array(bits.buffer),
    } as const;
    expect(text(classify(tensor, 4, false, undefined).data).sort()).toEqual(
      ['-inf:3', '-nan:1', 'inf:0', 'nan:2'].sort(),
    );
  });

  it('refuses to rank a row of more than a million elements, as Triton does', () => {
    const row = (length: number) => ({
      name: 'P',
      datatype: 'FP32' as const,
      shape: [1, length],
      data: new Float32Array(length),
    });
    expect(classify(row(1_000_000), 1, true, undefined).shape).toEqual([1, 1]);
    expect(() => classify(row(1_000_001), 1, true, undefined)).toThrow(
      'classification output tensor too large',
    );
  });

  it('keeps index order among equal values and prints 64-bit integers whole', () => {
    const tensor = {
      name: 'L',
      datatype: 'INT64',
      shape: [1, 3],
      data: BigInt64Array.from([7n, 9n, 7n]),
    } as const;

    expect(text(classify(tensor, 3, true, undefined).data)).toEqual(['9:1', '7:0', '7:2']);
  });
});

describe('classificationOf', () => {
  it.each([
    [undefined, 0],
    [0, 0],
    [3, 3],
    // Triton keeps the count in 32 bits.
    [2 ** 32, 0],
    [2 ** 32 + 3, 3],
  ])('reads %s as %i classes', (value, count) => {
    expect(
      classificationOf({
        name: 'P',
        ...(value === undefined ? {} : { parameters: { classification: value } }),
      }),
    ).toBe(count);
  });

  it.each([-1, 1.5, '2', true])('refuses %s as Triton does', (value) => {
    expect(() => classificationOf({ name: 'P', parameters: { classification: value } })).toThrow(
      "Unable to set 'classification': attempt to access JSON non-unsigned-integer as unsigned-integer",
    );
  });

  it('refuses a classification of an output whose datatype Triton cannot rank', () => {
    const signature = {
      inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 2] }],
      outputs: [{ name: 'H', datatype: 'FP16', shape: [-1, 2] }],
      maxBatchSize: 4,
    } as const;
    const request = {
      inputs: [{ name: 'X', datatype: 'FP32' as const, shape: [1, 2], data: [1, 2] }],
      outputs: [{ name: 'H', parameters: { classification: 1 } }],
    };

    expect(() => validateAgainstSignature(request, signature, 'half')).toThrow(
      new InvalidInferenceRequestError(
        "class result not available for output due to unsupported type 'FP16'",
      ),
    );
  });
});
