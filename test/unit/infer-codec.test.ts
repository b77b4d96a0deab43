import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Datatype, ModelSignature } from '../../contracts/model-signature';
import { joinBinaryBody } from '../../functions/inference/binary-tensors';
import { InvalidInferenceRequestError } from '../../functions/inference/protocol';
import { decodeInferRequest, encodeInferResponse } from '../../local/model-server/codec';
import {
  decodeBinary,
  encodeBinary,
  fromJsonElements,
  type Tensor,
  toJsonElements,
} from '../../local/model-server/tensors';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const SIMPLE = { name: 'simple', signature: SIMPLE_SIGNATURE };

const row = (offset: number) => Int32Array.from({ length: 16 }, (_, i) => i + offset);
const binaryInput = (name: string, bytes: number, shape = [1, 16]) => ({
  name,
  shape,
  datatype: 'INT32',
  parameters: { binary_data_size: bytes },
});

function decodeError(body: Uint8Array, headerLength: number | undefined, model = SIMPLE): string {
  try {
    decodeInferRequest(body, headerLength, model);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    return (error as Error).message;
  }
  throw new Error('expected the request to be rejected');
}

describe('binary tensor layout', () => {
  const elements: Record<Exclude<Datatype, 'FP16' | 'BYTES'>, fc.Arbitrary<unknown>> = {
    BOOL: fc.boolean(),
    UINT8: fc.integer({ min: 0, max: 255 }),
    UINT16: fc.integer({ min: 0, max: 65_535 }),
    UINT32: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    UINT64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    INT8: fc.integer({ min: -128, max: 127 }),
    INT16: fc.integer({ min: -32_768, max: 32_767 }),
    INT32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    INT64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    FP32: fc.float({ noNaN: true }),
    FP64: fc.double({ noNaN: true }),
  };

  it.each(Object.keys(elements) as (keyof typeof elements)[])('round-trips %s tensors', (datatype) => {
    fc.assert(
      fc.property(fc.array(elements[datatype], { maxLength: 40 }), (values) => {
        const data = fromJsonElements(datatype, values);
        const decoded = decodeBinary('X', datatype, [values.length], encodeBinary(datatype, data));
        expect(decoded).toEqual(data);
      }),
    );
  });

  it('round-trips BYTES elements, including bytes that are not UTF-8', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 10 }), (values) => {
        const decoded = decodeBinary('S', 'BYTES', [values.length], encodeBinary('BYTES', values));
        expect(decoded).toEqual(values);
      }),
    );
  });

  it('writes BYTES elements as a 4-byte little-endian length before each element', () => {
    const bytes = encodeBinary('BYTES', fromJsonElements('BYTES', ['ab', '', 'é']));

    expect([...bytes]).toEqual([2, 0, 0, 0, 97, 98, 0, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0xa9]);
  });

  it('writes BOOL as one byte per element and INT64 as eight little-endian bytes', () => {
    expect([...encodeBinary('BOOL', fromJsonElements('BOOL', [true, false, true]))]).toEqual([1, 0, 1]);
    expect([...encodeBinary('INT64', fromJsonElements('INT64', [-2]))]).toEqual([
      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
  });

  it('keeps FP16 as its IEEE half bits', () => {
    // 1.0 is 0x3c00 and -2.0 is 0xc000 in half precision.
    const data = decodeBinary('H', 'FP16', [2], new Uint8Array([0x00, 0x3c, 0x00, 0xc0]));

    expect([...(data as Uint16Array)]).toEqual([0x3c00, 0xc000]);
  });

  it('writes 64-bit integers and BOOL to JSON as numbers and booleans', () => {
    expect(toJsonElements('INT64', fromJsonElements('INT64', [3, -4]))).toEqual([3, -4]);
    expect(toJsonElements('BOOL', fromJsonElements('BOOL', [true, false]))).toEqual([true, false]);
  });

  it.each([
    ['INT32', [2], new Uint8Array(7), 'has 7 bytes of binary data but shape [2] of INT32 needs 8'],
    ['BYTES', [1], new Uint8Array([5, 0, 0, 0, 1]), 'claims 5 bytes but only 1 remain'],
    ['BYTES', [1], new Uint8Array([1, 0]), 'truncated 4-byte length prefix'],
    ['BYTES', [2], new Uint8Array([0, 0, 0, 0]), 'has 1 BYTES elements but its shape [2] needs 2'],
  ] as const)('rejects %s bytes that do not fill shape %j', (datatype, shape, bytes, message) => {
    expect(() => decodeBinary('X', datatype, shape, bytes)).toThrow(message);
  });
});

describe('decodeInferRequest', () => {
  it('reads binary inputs from after the JSON header, in header order', () => {
    const { body, headerLength } = joinBinaryBody(
      { inputs: [binaryInput('INPUT1', 64), binaryInput('INPUT0', 64)] },
      [row(100), row(0)],
    );

    const request = decodeInferRequest(body, headerLength, SIMPLE);

    expect(request.inputs.map((t) => [t.name, t.shape, Array.from(t.data as Int32Array)])).toEqual([
      ['INPUT1', [1, 16], Array.from(row(100))],
      ['INPUT0', [1, 16], Array.from(row(0))],
    ]);
  });

  it('accepts JSON and binary inputs in one request', () => {
    const { body, headerLength } = joinBinaryBody(
      {
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from(row(0)) },
          binaryInput('INPUT1', 64),
        ],
      },
      [row(7)],
    );

    const request = decodeInferRequest(body, headerLength, SIMPLE);

    expect(Array.from(request.inputs[1]!.data as Int32Array)).toEqual(Array.from(row(7)));
    expect(request.inputs[0]!.data).toBeInstanceOf(Int32Array);
  });

  // Triton's src/http_server.cc: a listed output follows its own binary_data alone (default JSON);
  // binary_data_output sets the encoding of outputs returned without being listed.
  it('sends listed outputs as binary by their own binary_data only, unlisted ones by binary_data_output', () => {
    const body = Buffer.from(
      JSON.stringify({
        parameters: { binary_data_output: true },
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from(row(0)) },
          { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from(row(0)) },
        ],
        outputs: [{ name: 'OUTPUT0', parameters: { binary_data: false } }, { name: 'OUTPUT1' }],
      }),
    );

    expect(decodeInferRequest(body, undefined, SIMPLE).outputs).toEqual([
      { name: 'OUTPUT0', binary: false, classes: 0 },
      { name: 'OUTPUT1', binary: false, classes: 0 },
    ]);
    const unlisted = JSON.parse(body.toString()) as { outputs?: unknown };
    delete unlisted.outputs;
    expect(decodeInferRequest(Buffer.from(JSON.stringify(unlisted)), undefined, SIMPLE).outputs).toEqual([
      { name: 'OUTPUT0', binary: true, classes: 0 },
      { name: 'OUTPUT1', binary: true, classes: 0 },
    ]);
  });

  it('treats a header length of 0 as a raw request carrying the only input, batch size 1', () => {
    const model = {
      name: 'one-input',
      signature: {
        inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, -1] }],
        outputs: [{ name: 'Y', datatype: 'FP32', shape: [-1, 2] }],
        maxBatchSize: 4,
      } satisfies ModelSignature,
    };
    const values = Float32Array.from([1, 2, 3]);

    const request = decodeInferRequest(new Uint8Array(values.buffer), 0, model);

    expect(request.inputs[0]!.shape).toEqual([1, 3]);
    expect(Array.from(request.inputs[0]!.data as Float32Array)).toEqual([1, 2, 3]);
    expect(request.outputs).toEqual([{ name: 'Y', binary: true, classes: 0 }]);
  });

  const json = (header: unknown) => Buffer.from(JSON.stringify(header));

  it.each([
    [
      'a header length beyond the body',
      () => ({ body: json({ inputs: [] }), headerLength: 999 }),
      'inference header size should be in range (0, 13), got: 999',
    ],
    [
      'binary data shorter than binary_data_size',
      () => {
        const { body, headerLength } = joinBinaryBody(
          { inputs: [binaryInput('INPUT0', 64), binaryInput('INPUT1', 64)] },
          [row(0)],
        );
        return { body, headerLength };
      },
      "unexpected size for input 'INPUT1', expecting 64 additional bytes for model 'simple'",
    ],
    [
      'bytes left over after the last binary input',
      () => {
        const header = {
          inputs: [binaryInput('INPUT0', 64), binaryInput('INPUT1', 64)],
        };
        return joinBinaryBody(header, [row(0), row(0), new Uint8Array(3)]);
      },
      "unexpected additional input data for model 'simple'",
    ],
    [
      'binary data that does not fill the shape',
      () =>
        joinBinaryBody({ inputs: [binaryInput('INPUT0', 60), binaryInput('INPUT1', 64)] }, [
          row(0).subarray(1),
          row(0),
        ]),
      "input 'INPUT0' has 60 bytes of binary data but shape [1,16] of INT32 needs 64",
    ],
    [
      'both data and binary_data_size',
      () =>
        joinBinaryBody({ inputs: [{ ...binaryInput('INPUT0', 64), data: [] }, binaryInput('INPUT1', 64)] }, [
          row(0),
          row(0),
        ]),
      "input 'INPUT0' has both 'data' and parameters.binary_data_size",
    ],
    [
      'a binary_data_size that is not a non-negative integer',
      () => joinBinaryBody({ inputs: [binaryInput('INPUT0', -1), binaryInput('INPUT1', 64)] }, [row(0)]),
      "input 'INPUT0' parameter 'binary_data_size' must be a non-negative integer",
    ],
    [
      'a binary input with a negative dimension',
      () =>
        joinBinaryBody({ inputs: [binaryInput('INPUT0', 64, [-1, 16]), binaryInput('INPUT1', 64)] }, [
          row(0),
          row(0),
        ]),
      "Unable to parse 'shape': attempt to access JSON non-unsigned-integer as unsigned-integer",
    ],
    [
      'a binary input whose shape the model does not take',
      () =>
        joinBinaryBody({ inputs: [binaryInput('INPUT0', 60, [1, 15]), binaryInput('INPUT1', 64)] }, [
          row(0).subarray(1),
          row(0),
        ]),
      "unexpected shape for input 'INPUT0' for model 'simple'. Expected [-1,16], got [1,15]",
    ],
    [
      'a binary_data parameter that is not a boolean',
      () => ({
        body: json({
          inputs: [
            { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from(row(0)) },
            { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from(row(0)) },
          ],
          outputs: [{ name: 'OUTPUT0', parameters: { binary_data: 'yes' } }],
        }),
        headerLength: undefined,
      }),
      "Unable to parse 'binary_data': attempt to access JSON non-boolean as boolean",
    ],
    [
      'a raw request to a model with two inputs',
      () => ({ body: Buffer.from(row(0).buffer), headerLength: 0 }),
      "Raw request must only have 1 input (found 1) to be deduced but got 2 inputs in 'simple' model configuration",
    ],
  ])('rejects %s', (_, make, message) => {
    const { body, headerLength } = make();

    expect(decodeError(body, headerLength)).toContain(message);
  });

  describe('FP16', () => {
    const model = {
      name: 'half',
      signature: {
        inputs: [{ name: 'H', datatype: 'FP16', shape: [-1, 2] }],
        outputs: [{ name: 'O', datatype: 'FP16', shape: [-1, 2] }],
        maxBatchSize: 4,
      } satisfies ModelSignature,
    };
    const half = Uint16Array.from([0x3c00, 0x4000]);

    it('takes FP16 inputs as binary data and returns FP16 outputs as binary data', () => {
      const { body, headerLength } = joinBinaryBody(
        {
          inputs: [{ name: 'H', shape: [1, 2], datatype: 'FP16', parameters: { binary_data_size: 4 } }],
          outputs: [{ name: 'O', parameters: { binary_data: true } }],
        },
        [half],
      );

      const request = decodeInferRequest(body, headerLength, model);

      expect(Array.from(request.inputs[0]!.data as Uint16Array)).toEqual([0x3c00, 0x4000]);
    });

    it('refuses FP16 in JSON, as Triton does', () => {
      const body = json({ inputs: [{ name: 'H', shape: [1, 2], datatype: 'FP16', data: [1, 2] }] });

      expect(decodeError(body, undefined, model)).toContain('receiving FP16 data via JSON is not supported');
    });

    it('refuses to send an FP16 output as JSON', () => {
      const { body, headerLength } = joinBinaryBody(
        { inputs: [{ name: 'H', shape: [1, 2], datatype: 'FP16', parameters: { binary_data_size: 4 } }] },
        [half],
      );

      expect(decodeError(body, headerLength, model)).toContain('sending FP16 data via JSON is not supported');
    });
  });
});

describe('encodeInferResponse', () => {
  const header = { model_name: 'm', model_version: '1' };
  const int32: Tensor = { name: 'A', datatype: 'INT32', shape: [1, 2], data: Int32Array.from([1, -1]) };
  const text: Tensor = { name: 'B', datatype: 'BYTES', shape: [1], data: fromJsonElements('BYTES', ['hi']) };

  it('answers in JSON alone when no output is binary', () => {
    const { body, headerLength } = encodeInferResponse(header, [{ tensor: int32, binary: false }]);

    expect(headerLength).toBeUndefined();
    expect(JSON.parse(body.toString())).toEqual({
      ...header,
      outputs: [{ name: 'A', datatype: 'INT32', shape: [1, 2], data: [1, -1] }],
    });
  });

  it('writes NaN and infinities in JSON outputs as Triton does, as bare tokens', () => {
    const fp32: Tensor = {
      name: 'C',
      datatype: 'FP32',
      shape: [1, 3],
      data: Float32Array.from([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]),
    };
    const { body } = encodeInferResponse(header, [{ tensor: fp32, binary: false }]);

    expect(body.toString()).toContain('"data":[NaN,Infinity,-Infinity]');
  });

  it('puts binary outputs after the JSON header, in header order, with their sizes', () => {
    const { body, headerLength } = encodeInferResponse(header, [
      { tensor: text, binary: true },
      { tensor: int32, binary: false },
      { tensor: int32, binary: true },
    ]);

    const json = JSON.parse(body.subarray(0, headerLength).toString());
    expect(json.outputs).toEqual([
      { name: 'B', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 6 } },
      { name: 'A', datatype: 'INT32', shape: [1, 2], data: [1, -1] },
      { name: 'A', datatype: 'INT32', shape: [1, 2], parameters: { binary_data_size: 8 } },
    ]);
    expect([...body.subarray(headerLength)]).toEqual([2, 0, 0, 0, 104, 105, 1, 0, 0, 0, 255, 255, 255, 255]);
  });
});
