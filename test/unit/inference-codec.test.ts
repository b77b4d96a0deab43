import { describe, expect, it } from 'vitest';
import type { Datatype, ModelSignature } from '../../contracts/model-signature';
import {
  joinBinaryBody,
  sageMakerBinaryContentType,
  sageMakerBinaryRequest,
} from '../../functions/inference/binary-tensors';
import {
  type ClientRequest,
  decodeBinaryTensor,
  decodeInferenceRequest,
  encodeInferenceResponse,
  MAX_REQUEST_ID_LENGTH,
  MAX_REQUEST_NON_FINITE_TOKENS,
  UnreadableBackendAnswerError,
} from '../../functions/inference/codec';
import {
  InvalidInferenceRequestError,
  parseInferenceRequest,
  validateAgainstSignature,
} from '../../functions/inference/protocol';
import { encodeBinaryTensor } from '../helpers/binary-requests';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

// Triton's simple client: INPUT0 counts up, INPUT1 is all -1; OUTPUT0 is the sum, OUTPUT1 the difference.
const INPUT0 = Array.from({ length: 16 }, (_, i) => i);
const INPUT1 = Array.from({ length: 16 }, () => -1);
const OUTPUT0 = INPUT0.map((x, i) => x + INPUT1[i]!);
const OUTPUT1 = INPUT0.map((x, i) => x - INPUT1[i]!);

const OCTET = 'application/octet-stream';
const SAGEMAKER = 'application/vnd.sagemaker-triton.binary+json';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const int32 = (values: readonly number[]) => encodeBinaryTensor('INT32', values);

const jsonInput = (name: string, data: unknown, shape = [1, 16]) => ({
  name,
  shape,
  datatype: 'INT32',
  data,
});
const binaryInput = (name: string, byteSize = 64, shape = [1, 16], datatype = 'INT32') => ({
  name,
  shape,
  datatype,
  parameters: { binary_data_size: byteSize },
});

/** A JSON request as the handler hands it over. */
function jsonRequest(body: unknown, headers: Record<string, string> = {}): ClientRequest {
  return {
    body: encoder.encode(typeof body === 'string' ? body : JSON.stringify(body)),
    headers: { 'content-type': 'application/json', ...headers },
    receivedAsText: true,
  };
}

/** A binary tensor extension request on Triton's HTTP API: Inference-Header-Content-Length framing. */
function binaryRequest(
  header: unknown,
  tensors: readonly Uint8Array[],
  headers: Record<string, string | undefined> = {},
): ClientRequest {
  const { body, headerLength } = joinBinaryBody(header, tensors);
  return {
    body,
    headers: {
      'content-type': OCTET,
      'inference-header-content-length': String(headerLength),
      accept: OCTET,
      ...headers,
    },
    receivedAsText: false,
  };
}

/** The same body in SageMaker's framing: the header length in the content type. */
function sageMakerRequest(header: unknown, tensors: readonly Uint8Array[]): ClientRequest {
  const { body, headerLength } = joinBinaryBody(header, tensors);
  return {
    body,
    headers: { 'content-type': sageMakerBinaryContentType(headerLength), accept: OCTET },
    receivedAsText: false,
  };
}

/** The error `act` throws; fails the test when it throws nothing. */
function errorOf(act: () => unknown): Error {
  try {
    act();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, but none was thrown');
}

describe('decodeInferenceRequest: v2 JSON', () => {
  it.each([
    [
      'flat data (KServe v2 example for simple)',
      { inputs: [jsonInput('INPUT0', INPUT0), jsonInput('INPUT1', INPUT1)] },
    ],
    [
      'nested data, one array per dimension',
      { inputs: [jsonInput('INPUT0', [INPUT0]), jsonInput('INPUT1', [INPUT1])] },
    ],
    [
      'a batch of two in nested data',
      {
        inputs: [
          jsonInput('INPUT0', [INPUT0, INPUT0], [2, 16]),
          jsonInput('INPUT1', [INPUT1, INPUT1], [2, 16]),
        ],
      },
    ],
    [
      'an id, parameters and requested outputs',
      {
        id: 'my-request',
        parameters: { priority: 1, tag: 'a' },
        inputs: [jsonInput('INPUT0', INPUT0), jsonInput('INPUT1', INPUT1)],
        outputs: [{ name: 'OUTPUT1' }],
      },
    ],
  ])('passes %s through as application/json, flattened and valid for simple', (_case, body) => {
    // Act
    const payload = decodeInferenceRequest(jsonRequest(body));
    // Assess
    expect(payload.contentType).toBe('application/json');
    // Flattened: the endpoint gets the checked request, which Triton reads flat or nested alike.
    expect(JSON.parse(decoder.decode(payload.body))).toEqual({
      ...body,
      inputs: body.inputs.map((input) => ({ ...input, data: (input.data as unknown[]).flat() })),
    });
    const batch = body.inputs[0]!.shape[0]!;
    expect(payload.request.inputs.map((t) => Array.from(t.data))).toEqual([
      Array.from({ length: batch }, () => INPUT0).flat(),
      Array.from({ length: batch }, () => INPUT1).flat(),
    ]);
    expect(payload.request.id).toBe((body as { id?: string }).id);
    expect(payload.request.parameters).toEqual((body as { parameters?: object }).parameters);
    expect(payload.request.outputs).toEqual((body as { outputs?: object }).outputs);
    expect(() => validateAgainstSignature(payload.request, SIMPLE_SIGNATURE, 'simple')).not.toThrow();
  });

  it.each([
    [
      'per output',
      { outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }, { name: 'OUTPUT1' }] },
    ],
    ['for every output with binary_data_output', { parameters: { binary_data_output: true } }],
  ])('keeps a request for binary outputs %s when the client accepts binary', (_case, extra) => {
    // Prepare
    const body = { inputs: [jsonInput('INPUT0', INPUT0), jsonInput('INPUT1', INPUT1)], ...extra };
    // Act
    const payload = decodeInferenceRequest(jsonRequest(body, { accept: OCTET }));
    // Assess: Triton answers in binary because the request says so, whatever its content type.
    expect(payload.contentType).toBe('application/json');
    expect(JSON.parse(decoder.decode(payload.body))).toEqual(body);
  });
});

describe('decodeInferenceRequest: binary tensor extension', () => {
  it('decodes binary inputs and forwards the same bytes in SageMaker binary+json (Triton simple, all binary)', () => {
    // Prepare
    const header = {
      inputs: [binaryInput('INPUT0'), binaryInput('INPUT1')],
      outputs: [
        { name: 'OUTPUT0', parameters: { binary_data: true } },
        { name: 'OUTPUT1', parameters: { binary_data: true } },
      ],
    };
    const client = binaryRequest(header, [int32(INPUT0), int32(INPUT1)]);
    const headerLength = Number(client.headers['inference-header-content-length']);
    // Act
    const payload = decodeInferenceRequest(client);
    // Assess
    expect(payload.contentType).toBe(`${SAGEMAKER};json-header-size=${headerLength}`);
    expect(payload.body).toEqual(client.body);
    expect(Array.from(payload.request.inputs[0]!.data)).toEqual(INPUT0);
    expect(Array.from(payload.request.inputs[1]!.data)).toEqual(INPUT1);
    expect(payload.request.inputs[1]!.parameters).toEqual({ binary_data_size: 64 });
    expect(payload.request.outputs).toEqual(header.outputs);
    expect(() => validateAgainstSignature(payload.request, SIMPLE_SIGNATURE, 'simple')).not.toThrow();
  });

  it('mixes JSON and binary inputs and outputs as Triton simple_http_infer_client does', () => {
    // Prepare
    const header = {
      inputs: [jsonInput('INPUT0', INPUT0), binaryInput('INPUT1')],
      outputs: [
        { name: 'OUTPUT0', parameters: { binary_data: true } },
        { name: 'OUTPUT1', parameters: { binary_data: false } },
      ],
    };
    const client = binaryRequest(header, [int32(INPUT1)]);
    // Act
    const payload = decodeInferenceRequest(client);
    // Assess
    expect(payload.contentType).toMatch(
      new RegExp(`^${SAGEMAKER.replace(/[.+]/g, '\\$&')};json-header-size=\\d+$`),
    );
    expect(payload.body).toEqual(client.body);
    expect(payload.request.inputs.map((t) => Array.from(t.data))).toEqual([INPUT0, INPUT1]);
    expect(() => validateAgainstSignature(payload.request, SIMPLE_SIGNATURE, 'simple')).not.toThrow();
  });

  it("takes SageMaker's own binary+json content type from a client", () => {
    // Prepare
    const header = { inputs: [binaryInput('INPUT0'), binaryInput('INPUT1')] };
    const client = sageMakerRequest(header, [int32(INPUT0), int32(INPUT1)]);
    // Act
    const payload = decodeInferenceRequest(client);
    // Assess
    expect(payload.contentType).toBe(client.headers['content-type']);
    expect(payload.body).toEqual(client.body);
    expect(Array.from(payload.request.inputs[0]!.data)).toEqual(INPUT0);
  });

  // Deeper than JSON.stringify can recurse; JSON.parse reads it without recursing.
  const deeplyNested = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

  it('passes on only the fields it checked: one the protocol does not define is dropped, however deep', () => {
    // Prepare
    const checked = { id: 'a', inputs: [jsonInput('INPUT0', INPUT0), jsonInput('INPUT1', INPUT1)] };
    const text = `{"extra":${deeplyNested},${JSON.stringify(checked).slice(1, -1)},"__proto__":{"x":1}}`;
    // Act
    const payload = decodeInferenceRequest(jsonRequest(text));
    // Assess
    expect(payload.contentType).toBe('application/json');
    expect(JSON.parse(decoder.decode(payload.body))).toEqual(checked);
  });

  it('rebuilds the JSON header of a binary request from what it checked and keeps the tensors byte for byte', () => {
    // Prepare
    const checked = { inputs: [binaryInput('INPUT0'), binaryInput('INPUT1')] };
    const headerText = encoder.encode(`{"extra":${deeplyNested},${JSON.stringify(checked).slice(1)}`);
    const tensors = [int32(INPUT0), int32(INPUT1)];
    const { body: framed } = joinBinaryBody(checked, tensors);
    const client = binaryRequest(checked, tensors, {
      'inference-header-content-length': String(headerText.length),
    });
    const body = new Uint8Array([...headerText, ...tensors.flatMap((t) => [...t])]);
    // Act
    const payload = decodeInferenceRequest({ ...client, body });
    // Assess: exactly what a client sending only the checked fields would have sent
    const headerLength = framed.length - 128;
    expect(payload.contentType).toBe(`${SAGEMAKER};json-header-size=${headerLength}`);
    expect(payload.body).toEqual(framed);
  });

  it('sends a binary-framed request that carries no binary tensors as plain JSON', () => {
    // Prepare
    const header = { inputs: [jsonInput('INPUT0', INPUT0), jsonInput('INPUT1', INPUT1)] };
    // Act
    const payload = decodeInferenceRequest(binaryRequest(header, []));
    // Assess
    expect(payload.contentType).toBe('application/json');
    expect(JSON.parse(decoder.decode(payload.body))).toEqual(header);
  });

  it("decodes the binary extension document's example (UINT32 [2,2] and BOOL [3], 19 bytes)", () => {
    // Prepare
    const header = {
      model_name: 'mymodel',
      inputs: [binaryInput('input0', 16, [2, 2], 'UINT32'), binaryInput('input1', 3, [3], 'BOOL')],
      outputs: [{ name: 'output0', parameters: { binary_data: true } }],
    };
    const tensors = [encodeBinaryTensor('UINT32', [1, 2, 3, 4_294_967_295]), Uint8Array.of(1, 0, 1)];
    const client = binaryRequest(header, tensors);
    // Act
    const { request, body, contentType } = decodeInferenceRequest(client);
    // Assess: the header as checked (without the document's model_name), then the 19 bytes unchanged
    const headerLength = Number(/json-header-size=(\d+)$/.exec(contentType)?.[1]);
    expect(JSON.parse(decoder.decode(body.subarray(0, headerLength)))).toEqual({
      inputs: header.inputs,
      outputs: header.outputs,
    });
    expect(body.subarray(headerLength)).toEqual(client.body.subarray(client.body.length - 19));
    expect(Array.from(request.inputs[0]!.data)).toEqual([1, 2, 3, 4_294_967_295]);
    expect(Array.from(request.inputs[1]!.data)).toEqual([true, false, true]);
  });

  const signatureOf = (datatype: Datatype, shape: number[]): ModelSignature => ({
    inputs: [{ name: 'X', datatype, shape }],
    outputs: [{ name: 'Y', datatype, shape }],
    maxBatchSize: 0,
  });

  it.each<[Datatype, unknown[], unknown[]]>([
    ['BOOL', [true, false, true], [true, false, true]],
    ['UINT8', [0, 7, 255], [0, 7, 255]],
    ['UINT16', [0, 258, 65_535], [0, 258, 65_535]],
    ['UINT32', [0, 16_909_060, 4_294_967_295], [0, 16_909_060, 4_294_967_295]],
    ['UINT64', [0n, 2n ** 53n + 1n, 2n ** 64n - 1n], [0n, 2n ** 53n + 1n, 2n ** 64n - 1n]],
    ['INT8', [-128, 0, 127], [-128, 0, 127]],
    ['INT16', [-32_768, -1, 32_767], [-32_768, -1, 32_767]],
    ['INT32', [-2_147_483_648, -1, 2_147_483_647], [-2_147_483_648, -1, 2_147_483_647]],
    ['INT64', [-(2n ** 63n), -1n, 2n ** 63n - 1n], [-(2n ** 63n), -1n, 2n ** 63n - 1n]],
    ['FP16', [0.5, -65_504, 1 / 3], [0.5, -65_504, 0.333251953125]],
    ['FP32', [0.5, -1e30, 1 / 3], [0.5, Math.fround(-1e30), Math.fround(1 / 3)]],
    ['FP64', [0.5, -1e300, 1 / 3], [0.5, -1e300, 1 / 3]],
    ['BYTES', ['abc', '', 'naïve ☃'], ['abc', '', 'naïve ☃']],
  ])('round-trips %s through encodeBinaryTensor and a binary request', (datatype, values, expected) => {
    // Prepare
    const tensor = encodeBinaryTensor(datatype, values as number[]);
    const header = {
      inputs: [binaryInput('X', tensor.length, [3], datatype)],
      outputs: [{ name: 'Y', parameters: { binary_data: true } }],
    };
    // Act
    const { request } = decodeInferenceRequest(binaryRequest(header, [tensor]));
    // Assess
    expect(Array.from(request.inputs[0]!.data)).toEqual(expected);
    expect(encodeBinaryTensor(datatype, request.inputs[0]!.data)).toEqual(tensor);
    expect(() => validateAgainstSignature(request, signatureOf(datatype, [3]))).not.toThrow();
  });

  it.each<[Datatype, unknown[], number[]]>([
    ['INT32', [1, -1], [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]],
    ['UINT16', [0x0102], [0x02, 0x01]],
    ['INT64', [-2n], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ['FP32', [1], [0, 0, 0x80, 0x3f]],
    ['BOOL', [true, false], [1, 0]],
    ['BYTES', ['ab', ''], [2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0]],
  ])('writes %s little-endian, row-major and unpadded', (datatype, values, bytes) => {
    expect(Array.from(encodeBinaryTensor(datatype, values as number[]))).toEqual(bytes);
  });

  it.each([
    [1, '3c00'],
    [-2, 'c000'],
    [65_504, '7bff'],
    [65_519, '7bff'],
    [65_520, '7c00'],
    [2 ** -24, '0001'],
    [2 ** -14, '0400'],
    [0.1, '2e66'],
    [1 / 3, '3555'],
    // Halfway between 1 and the next half (1 + 2^-10): ties go to the even one.
    [1 + 2 ** -11, '3c00'],
    [1 + 3 * 2 ** -11, '3c02'],
    [-0, '8000'],
    [Number.NEGATIVE_INFINITY, 'fc00'],
  ])('encodes %d as FP16 bits 0x%s', (value, bits) => {
    // Act
    const bytes = encodeBinaryTensor('FP16', [value]);
    // Assess
    expect((bytes[0]! | (bytes[1]! << 8)).toString(16).padStart(4, '0')).toBe(bits);
  });

  it('decodes FP16 subnormals, infinities and NaN', () => {
    const bytes = Uint8Array.of(0x01, 0x00, 0x00, 0x7c, 0x00, 0xfc, 0x00, 0x7e);
    const data = decodeBinaryTensor({ name: 'X', shape: [4], datatype: 'FP16' }, bytes);
    expect(Array.from(data)).toEqual([
      2 ** -24,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
    ]);
  });

  it('accepts an empty binary tensor of a zero-sized shape', () => {
    const { request } = decodeInferenceRequest(
      binaryRequest({ inputs: [binaryInput('INPUT0', 0, [0, 16])] }, [Uint8Array.of()]),
    );
    expect(request.inputs[0]!.data).toHaveLength(0);
  });
});

describe('decodeInferenceRequest: malformed requests are 400s before any backend call', () => {
  const simpleHeader = { inputs: [binaryInput('INPUT0'), binaryInput('INPUT1')] };
  const simpleTensors = [int32(INPUT0), int32(INPUT1)];
  const withHeaderLength = (value: string) =>
    binaryRequest(simpleHeader, simpleTensors, { 'inference-header-content-length': value });
  const headerLengthOf = (client: ClientRequest) => Number(client.headers['inference-header-content-length']);
  const bodyLength = binaryRequest(simpleHeader, simpleTensors).body.length;
  const bytesTensor = (bytes: number[], byteSize = bytes.length, shape = [1]) =>
    binaryRequest({ inputs: [binaryInput('TEXT', byteSize, shape, 'BYTES')] }, [Uint8Array.from(bytes)]);

  it.each<[string, () => ClientRequest, string]>([
    ['an empty body', () => jsonRequest(''), 'the request body is empty'],
    ['bad JSON', () => jsonRequest('{"inputs": ['), 'the request body is not valid JSON'],
    // rapidjson reads no byte order mark, so Triton refuses one.
    [
      'JSON after a byte order mark',
      () => jsonRequest('\uFEFF{"inputs": []}'),
      'the request body is not valid JSON',
    ],
    [
      'JSON followed by binary data without a header length',
      () => ({ ...binaryRequest(simpleHeader, simpleTensors), headers: { 'content-type': OCTET } }),
      "for binary tensor data, give the JSON header's byte length in Inference-Header-Content-Length",
    ],
    [
      'a header length larger than the body',
      () => withHeaderLength(String(bodyLength + 1)),
      `Inference-Header-Content-Length is ${bodyLength + 1}, larger than the ${bodyLength}-byte request body`,
    ],
    [
      'a negative header length',
      () => withHeaderLength('-1'),
      "Inference-Header-Content-Length must be a non-negative integer (the byte length of the JSON header), got '-1'",
    ],
    [
      'a non-numeric header length',
      () => withHeaderLength('abc'),
      "Inference-Header-Content-Length must be a non-negative integer (the byte length of the JSON header), got 'abc'",
    ],
    ['a fractional header length', () => withHeaderLength('12.5'), "got '12.5'"],
    ['an empty header length', () => withHeaderLength(''), "got ''"],
    [
      'a header length of 0 (a raw tensor) without the model signature',
      () => withHeaderLength('0'),
      'a header length of 0 (a raw binary request: the body is one input tensor, no JSON header) needs the model signature',
    ],
    [
      'a header length that cuts the JSON short',
      () => withHeaderLength(String(headerLengthOf(binaryRequest(simpleHeader, simpleTensors)) - 1)),
      'the JSON header (the first',
    ],
    [
      'a negative binary_data_size',
      () => binaryRequest({ inputs: [binaryInput('INPUT0', -64), binaryInput('INPUT1')] }, simpleTensors),
      "input 'INPUT0' parameter 'binary_data_size' must be a non-negative integer (the byte length of its binary data), got -64",
    ],
    [
      'a non-numeric binary_data_size',
      () =>
        binaryRequest(
          {
            inputs: [
              { ...binaryInput('INPUT0'), parameters: { binary_data_size: '64' } },
              binaryInput('INPUT1'),
            ],
          },
          simpleTensors,
        ),
      "input 'INPUT0' parameter 'binary_data_size' must be a non-negative integer (the byte length of its binary data), got \"64\"",
    ],
    [
      'a fractional binary_data_size',
      () => binaryRequest({ inputs: [binaryInput('INPUT0', 63.5), binaryInput('INPUT1')] }, simpleTensors),
      'got 63.5',
    ],
    [
      'binary data beyond what the inputs declare',
      () => binaryRequest(simpleHeader, [...simpleTensors, Uint8Array.of(0, 0, 0, 0)]),
      "the request has 132 bytes of binary data after its JSON header, but its inputs' binary_data_size add up to 128",
    ],
    [
      'less binary data than an input declares',
      () => binaryRequest(simpleHeader, [int32(INPUT0), int32(INPUT1).subarray(0, 60)]),
      "input 'INPUT1' declares 64 bytes of binary data (parameters.binary_data_size) but only 60 bytes remain",
    ],
    [
      'a binary_data_size that does not fit the shape and datatype',
      () =>
        binaryRequest({ inputs: [binaryInput('INPUT0', 60), binaryInput('INPUT1', 68)] }, [
          int32(INPUT0).subarray(0, 60),
          Uint8Array.from([...int32(INPUT1), 0, 0, 0, 0]),
        ]),
      "input 'INPUT0' has 60 bytes of binary data, but shape [1,16] of INT32 needs 64 (16 elements of 4 bytes)",
    ],
    [
      'a truncated BYTES element',
      () => bytesTensor([5, 0, 0, 0, 0x61, 0x62, 0x63]),
      "input 'TEXT' BYTES element 0 is truncated: it declares 5 bytes but only 3 remain",
    ],
    [
      'a truncated BYTES length prefix',
      () => bytesTensor([1, 0, 0, 0, 0x61, 2, 0], 7, [2]),
      "input 'TEXT' BYTES element 1 is truncated: its 4-byte length prefix has only 2 bytes",
    ],
    [
      'fewer BYTES elements than the shape needs',
      () => bytesTensor([1, 0, 0, 0, 0x61], 5, [2]),
      "input 'TEXT' has 1 BYTES elements in its binary data, but its shape [2] needs 2",
    ],
    [
      'more BYTES elements than the shape needs',
      () => bytesTensor([1, 0, 0, 0, 0x61, 0, 0, 0, 0], 9, [1]),
      "input 'TEXT' has more than the 1 BYTES elements its shape [1] needs",
    ],
    [
      'an unknown datatype',
      () => binaryRequest({ inputs: [binaryInput('INPUT0', 64, [1, 16], 'INT128')] }, [int32(INPUT0)]),
      "input 'INPUT0' has unknown datatype 'INT128'",
    ],
    [
      'an element count that does not match the shape (JSON)',
      () => jsonRequest({ inputs: [jsonInput('INPUT0', INPUT0.slice(1)), jsonInput('INPUT1', INPUT1)] }),
      "Failed to parse 'data' field: shape does not match true shape",
    ],
    [
      'both data and binary_data_size on one input',
      () => binaryRequest({ inputs: [{ ...binaryInput('INPUT0'), data: INPUT0 }] }, [int32(INPUT0)]),
      "input 'INPUT0' has both 'data' and parameters.binary_data_size",
    ],
    [
      'binary_data_size in a JSON request with no binary data',
      () => jsonRequest({ inputs: [binaryInput('INPUT0'), binaryInput('INPUT1')] }),
      'but the request has no binary data: send the JSON header',
    ],
    [
      "SageMaker's content type with json-header-size=abc",
      () => ({
        ...sageMakerRequest(simpleHeader, simpleTensors),
        headers: { 'content-type': `${SAGEMAKER};json-header-size=abc`, accept: OCTET },
      }),
      "json-header-size in the Content-Type must be a non-negative integer (the byte length of the JSON header), got 'abc'",
    ],
    [
      "SageMaker's content type with a negative json-header-size",
      () => ({
        ...sageMakerRequest(simpleHeader, simpleTensors),
        headers: { 'content-type': `${SAGEMAKER};json-header-size=-5`, accept: OCTET },
      }),
      "got '-5'",
    ],
    [
      "SageMaker's content type without json-header-size",
      () => ({ ...sageMakerRequest(simpleHeader, simpleTensors), headers: { 'content-type': SAGEMAKER } }),
      `Content-Type ${SAGEMAKER} needs a json-header-size parameter`,
    ],
    [
      "SageMaker's content type with a json-header-size beyond the body",
      () => ({
        ...sageMakerRequest(simpleHeader, simpleTensors),
        headers: { 'content-type': sageMakerBinaryContentType(bodyLength + 10) },
      }),
      `the Content-Type's json-header-size is ${bodyLength + 10}, larger than the ${bodyLength}-byte request body`,
    ],
    [
      'a header length and a json-header-size that disagree',
      () =>
        binaryRequest(simpleHeader, simpleTensors, {
          'content-type': sageMakerBinaryContentType(10),
        }),
      "and the Content-Type's json-header-size (10) disagree",
    ],
    [
      'binary data that arrived as text (a Content-Type that is not binary)',
      () => ({
        ...binaryRequest(simpleHeader, simpleTensors, { 'content-type': 'application/json' }),
        receivedAsText: true,
      }),
      "binary tensor data must be sent with Content-Type application/octet-stream (or application/vnd.sagemaker-triton.binary+json;json-header-size=N); with Content-Type 'application/json'",
    ],
    [
      'a binary_data that is not a boolean',
      () =>
        jsonRequest({
          inputs: [jsonInput('INPUT0', INPUT0), jsonInput('INPUT1', INPUT1)],
          outputs: [{ name: 'OUTPUT0', parameters: { binary_data: 'yes' } }],
        }),
      "output 'OUTPUT0' parameter 'binary_data' must be a boolean, got \"yes\"",
    ],
    [
      'a binary_data_output that is not a boolean',
      () =>
        jsonRequest({
          inputs: [jsonInput('INPUT0', INPUT0), jsonInput('INPUT1', INPUT1)],
          parameters: { binary_data_output: 1 },
        }),
      "the inference request parameter 'binary_data_output' must be a boolean, got 1",
    ],
  ])('refuses %s', (_case, client, message) => {
    const error = errorOf(() => decodeInferenceRequest(client()));
    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    expect(error.message).toContain(message);
  });

  it('refuses binary inputs with wrong names against the signature, as for JSON', () => {
    // Prepare
    const header = { inputs: [binaryInput('INPUT0'), binaryInput('INPUTX')] };
    const { request } = decodeInferenceRequest(binaryRequest(header, simpleTensors));
    // Act
    const error = errorOf(() => validateAgainstSignature(request, SIMPLE_SIGNATURE, 'simple'));
    // Assess
    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    expect(error.message).toBe(
      "unexpected inference input 'INPUTX' for model 'simple'; its inputs are INPUT0, INPUT1",
    );
  });

  it('refuses a binary input whose shape does not fit the signature', () => {
    const header = { inputs: [binaryInput('INPUT0', 60, [1, 15]), binaryInput('INPUT1', 60, [1, 15])] };
    const { request } = decodeInferenceRequest(
      binaryRequest(header, [int32(INPUT0.slice(1)), int32(INPUT1.slice(1))]),
    );
    expect(() => validateAgainstSignature(request, SIMPLE_SIGNATURE, 'simple')).toThrow(
      "unexpected shape for input 'INPUT0' for model 'simple'. Expected [-1,16], got [1,15]",
    );
  });
});

describe('decodeInferenceRequest: what the API refuses that Triton would take', () => {
  const inputs = [jsonInput('INPUT0', INPUT0), jsonInput('INPUT1', INPUT1)];

  // Triton echoes the id; escaped twice on its way back, a body of quotes would cross Lambda's 6 MB.
  it('refuses a request id longer than the API takes, and takes one of that length', () => {
    const long = errorOf(() =>
      decodeInferenceRequest(jsonRequest({ id: '"'.repeat(MAX_REQUEST_ID_LENGTH + 1), inputs })),
    );
    expect(long).toBeInstanceOf(InvalidInferenceRequestError);
    expect(long.message).toContain(`more than the ${MAX_REQUEST_ID_LENGTH}`);
    const kept = decodeInferenceRequest(jsonRequest({ id: '"'.repeat(MAX_REQUEST_ID_LENGTH), inputs }));
    expect(kept.request.id).toHaveLength(MAX_REQUEST_ID_LENGTH);
  });

  // JSON numbers are read as doubles: 2^63 + 1 would reach Triton's 64-bit sequence_id as 2^63.
  it.each([
    ['the request', { parameters: { sequence_id: 2 ** 63 + 1 }, inputs }],
    ['an input', { inputs: [{ ...inputs[0], parameters: { big: -(2 ** 53) } }, inputs[1]] }],
    ['an output', { inputs, outputs: [{ name: 'OUTPUT0', parameters: { big: 2 ** 53 } }] }],
  ])('refuses an integer parameter of %s beyond 2^53 - 1', (_, body) => {
    const error = errorOf(() => decodeInferenceRequest(jsonRequest(body)));
    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    expect(error.message).toContain('beyond 2^53 - 1');
  });

  // Triton's JSON takes them (TritonJson's kParseNanAndInfFlag), and Triton's Python client writes them.
  it('takes NaN and the infinities in a JSON request and passes them on as Triton reads them', () => {
    const body =
      '{"inputs":[{"name":"INPUT0","shape":[1,3],"datatype":"FP32","data":[NaN,-Infinity,Infinity]}]}';
    const { request, body: forwarded, contentType } = decodeInferenceRequest(jsonRequest(body));
    expect(request.inputs[0]!.data).toEqual([Number.NaN, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
    expect(contentType).toBe('application/json');
    expect(new TextDecoder().decode(forwarded)).toBe(body);
  });

  it('reads up to MAX_REQUEST_NON_FINITE_TOKENS tokens in a JSON request and refuses more, pointing to binary data', () => {
    const body = (n: number) =>
      `{"inputs":[{"name":"F","shape":[${n}],"datatype":"FP32","data":[${Array(n).fill('NaN').join(',')}]}]}`;
    const { request } = decodeInferenceRequest(jsonRequest(body(MAX_REQUEST_NON_FINITE_TOKENS)));
    expect(request.inputs[0]!.data).toHaveLength(MAX_REQUEST_NON_FINITE_TOKENS);
    const error = errorOf(() => decodeInferenceRequest(jsonRequest(body(MAX_REQUEST_NON_FINITE_TOKENS + 1))));
    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    expect(error.message).toBe(
      `the request body holds more than ${MAX_REQUEST_NON_FINITE_TOKENS} NaN or Infinity tokens, more than this API reads in JSON: send such tensors as binary data`,
    );
  });

  it.each([
    [
      'an integer input',
      '{"inputs":[{"name":"I","shape":[1],"datatype":"INT32","data":[NaN]}]}',
      'must be an integer',
    ],
    // rapidjson refuses it too, with the same words.
    [
      'a literal too large for a double beside the tokens',
      '{"inputs":[{"name":"F","shape":[2],"datatype":"FP64","data":[NaN,1e309]}]}',
      'Number too big to be stored in double',
    ],
    [
      'a token inside a word',
      '{"inputs":[{"name":"F","shape":[1],"datatype":"FP32","data":[NaNa]}]}',
      'not valid JSON',
    ],
  ])('refuses non-finite tokens in %s', (_, body, message) => {
    const error = errorOf(() => decodeInferenceRequest(jsonRequest(body)));
    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    expect(error.message).toContain(message);
  });

  it('takes integer parameters up to 2^53 - 1 and fractions', () => {
    const { request } = decodeInferenceRequest(
      jsonRequest({
        parameters: { sequence_id: Number.MAX_SAFE_INTEGER, scale: 0.5, tag: '9007199254740993' },
        inputs,
      }),
    );
    expect(request.parameters).toEqual({
      sequence_id: Number.MAX_SAFE_INTEGER,
      scale: 0.5,
      tag: '9007199254740993',
    });
  });
});

describe('parseInferenceRequest and binary inputs', () => {
  const input = { name: 'X', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } };

  it('reads an input declaring binary_data_size from the binary reader', () => {
    const reads: unknown[] = [];
    const request = parseInferenceRequest({ inputs: [input] }, (tensor, byteSize) => {
      reads.push({ ...tensor, byteSize });
      return Int32Array.of(4, 5);
    });
    expect(reads).toEqual([{ name: 'X', shape: [2], datatype: 'INT32', data: [], byteSize: 8 }]);
    expect(Array.from(request.inputs[0]!.data)).toEqual([4, 5]);
  });

  it('needs data for every input without a binary reader, as before the binary extension', () => {
    expect(() => parseInferenceRequest({ inputs: [input] })).toThrow("input 'X' field 'data' is missing");
    expect(parseInferenceRequest({ inputs: [{ ...input, data: [1, 2] }] }).inputs[0]!.data).toEqual([1, 2]);
  });
});

describe('FP16 goes only as binary data, as Triton takes it', () => {
  const HALF: ModelSignature = {
    inputs: [{ name: 'X', datatype: 'FP16', shape: [2] }],
    outputs: [{ name: 'Y', datatype: 'FP16', shape: [2] }],
    maxBatchSize: 0,
  };
  const binaryX = { name: 'X', shape: [2], datatype: 'FP16', parameters: { binary_data_size: 4 } };
  const parseBinary = (request: object) => () =>
    decodeInferenceRequest(binaryRequest(request, [encodeBinaryTensor('FP16', [1, 2])]), HALF);

  it('refuses FP16 input data in JSON with a message naming the fix', () => {
    const json = jsonRequest(
      {
        inputs: [{ name: 'X', shape: [2], datatype: 'FP16', data: [1, 2] }],
        outputs: [{ name: 'Y', parameters: { binary_data: true } }],
      },
      { accept: OCTET },
    );
    expect(() => decodeInferenceRequest(json, HALF)).toThrow(
      "input 'X' has datatype FP16, which Triton takes only as binary data: send it with the binary tensor extension",
    );
  });

  it.each([
    ['no outputs named and no binary_data_output', {}],
    ['the output requested without binary_data', { outputs: [{ name: 'Y' }] }],
    [
      'binary_data false overriding binary_data_output',
      {
        parameters: { binary_data_output: true },
        outputs: [{ name: 'Y', parameters: { binary_data: false } }],
      },
    ],
  ])('refuses an FP16 output in JSON: %s', (_case, extra) => {
    expect(parseBinary({ inputs: [binaryX], ...extra })).toThrow(
      "output 'Y' has datatype FP16, which Triton returns only as binary data",
    );
  });

  it.each([
    ['binary_data on the output', { outputs: [{ name: 'Y', parameters: { binary_data: true } }] }],
    ['binary_data_output on the request', { parameters: { binary_data_output: true } }],
  ])('accepts FP16 in and out as binary data: %s', (_case, extra) => {
    expect(parseBinary({ inputs: [binaryX], ...extra })).not.toThrow();
  });
});

describe('encodeInferenceResponse', () => {
  const naming = { model_name: 'simple', model_version: '2' };

  it('renames the model in a JSON answer and keeps id, parameters and outputs', () => {
    // Prepare
    const answer = {
      id: 'my-request',
      model_name: 'simple-on-triton',
      model_version: '1',
      parameters: { sequence_id: 7 },
      outputs: [{ name: 'OUTPUT0', datatype: 'INT32', shape: [1, 16], data: OUTPUT0 }],
    };
    // Act
    const response = encodeInferenceResponse(
      { body: encoder.encode(JSON.stringify(answer)), contentType: 'application/json' },
      naming,
    );
    // Assess
    expect(response.contentType).toBe('application/json');
    expect(response.headers).toEqual({});
    expect(JSON.parse(decoder.decode(response.body))).toEqual({ ...answer, ...naming });
  });

  // TritonJson writes NaN and infinities as bare tokens; the answer goes on as Triton wrote it.
  it('passes on JSON outputs holding NaN and infinities as Triton writes them', () => {
    const body =
      '{"model_name":"m","model_version":"1","outputs":[{"name":"OUTPUT0","datatype":"FP32","shape":[1,3],"data":[NaN,Infinity,-Infinity]}]}';
    const response = encodeInferenceResponse(
      { body: encoder.encode(body), contentType: 'application/json' },
      naming,
    );
    expect(decoder.decode(response.body)).toBe(
      '{"model_name":"simple","model_version":"2","outputs":[{"name":"OUTPUT0","datatype":"FP32","shape":[1,3],"data":[NaN,Infinity,-Infinity]}]}',
    );
  });

  it("turns SageMaker's binary+json answer into application/octet-stream with Inference-Header-Content-Length", () => {
    // Prepare: OUTPUT0 binary, OUTPUT1 JSON, as Triton answers simple_http_infer_client.
    const tensor = int32(OUTPUT0);
    const header = {
      id: 'my-request',
      model_name: 'simple',
      model_version: '1',
      parameters: { sequence_id: 7 },
      outputs: [
        { name: 'OUTPUT0', datatype: 'INT32', shape: [1, 16], parameters: { binary_data_size: 64 } },
        { name: 'OUTPUT1', datatype: 'INT32', shape: [1, 16], data: OUTPUT1 },
      ],
    };
    const { body, headerLength } = joinBinaryBody(header, [tensor]);
    // Act
    const response = encodeInferenceResponse(
      { body, contentType: sageMakerBinaryContentType(headerLength) },
      {
        model_name: 'simple',
        model_version: '12',
      },
    );
    // Assess
    expect(response.contentType).toBe(OCTET);
    const newLength = Number(response.headers['Inference-Header-Content-Length']);
    expect(newLength).toBe(headerLength + 1);
    expect(JSON.parse(decoder.decode(response.body.subarray(0, newLength)))).toEqual({
      ...header,
      model_version: '12',
    });
    expect(response.body.subarray(newLength)).toEqual(tensor);
    const decoded = decodeBinaryTensor(
      { name: 'OUTPUT0', shape: [1, 16], datatype: 'INT32' },
      response.body.subarray(newLength),
    );
    expect(Array.from(decoded)).toEqual(OUTPUT0);
  });

  it('keeps several binary outputs byte for byte, in order', () => {
    const tensors = [int32(OUTPUT0), encodeBinaryTensor('BYTES', ['a', 'bc'])];
    const header = {
      model_name: 'm',
      outputs: [
        { name: 'A', datatype: 'INT32', shape: [16], parameters: { binary_data_size: 64 } },
        { name: 'B', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: tensors[1]!.length } },
      ],
    };
    const { body, headerLength } = joinBinaryBody(header, tensors);
    const response = encodeInferenceResponse(
      { body, contentType: `${SAGEMAKER}; json-header-size=${headerLength}` },
      naming,
    );
    const newLength = Number(response.headers['Inference-Header-Content-Length']);
    expect(response.body.subarray(newLength)).toEqual(Uint8Array.from([...tensors[0]!, ...tensors[1]!]));
  });

  it.each<[string, () => { body: Uint8Array; contentType: string }, string]>([
    [
      'a JSON answer that is not JSON',
      () => ({ body: encoder.encode('<html>'), contentType: 'application/json' }),
      'the endpoint answered with a body that is not JSON',
    ],
    [
      'a JSON header longer than the body',
      () => ({ body: encoder.encode('{}'), contentType: sageMakerBinaryContentType(3) }),
      "the endpoint's binary answer declares a 3-byte JSON header in a 2-byte body",
    ],
    [
      'a malformed json-header-size',
      () => ({ body: encoder.encode('{}'), contentType: `${SAGEMAKER};json-header-size=x` }),
      'the endpoint answered with a malformed content type',
    ],
    [
      'output sizes that do not add up to the binary data',
      () => {
        const header = {
          outputs: [{ name: 'A', datatype: 'INT32', shape: [16], parameters: { binary_data_size: 64 } }],
        };
        const { body, headerLength } = joinBinaryBody(header, [int32(OUTPUT0).subarray(0, 32)]);
        return { body, contentType: sageMakerBinaryContentType(headerLength) };
      },
      "carries 32 bytes of output data, but its outputs' binary_data_size add up to 64",
    ],
  ])('refuses %s as an unreadable answer', (_case, answer, message) => {
    const error = errorOf(() => encodeInferenceResponse(answer(), naming));
    expect(error).toBeInstanceOf(UnreadableBackendAnswerError);
    expect(error.message).toContain(message);
  });
});

describe("decodeInferenceRequest: Triton's raw binary request (header length 0)", () => {
  const FEATURES: ModelSignature = {
    inputs: [{ name: 'FEATURES', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'LABEL', datatype: 'INT64', shape: [-1, 1] }],
    maxBatchSize: 64,
  };
  const raw = (bytes: Uint8Array): ClientRequest => ({
    body: bytes,
    headers: { 'inference-header-content-length': '0' },
  });

  it('reads the body as the one input, a batch of one, and asks for every output in binary', () => {
    const tensor = encodeBinaryTensor('FP32', [1, 2, 3, 4]);
    const { request, body, contentType } = decodeInferenceRequest(raw(tensor), FEATURES);
    expect(request.inputs).toMatchObject([
      { name: 'FEATURES', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } },
    ]);
    expect(request.parameters).toEqual({ binary_data_output: true });
    // Towards the endpoint: a JSON header, then the tensor unchanged.
    const headerLength = Number(/json-header-size=(\d+)/.exec(contentType)![1]);
    expect(JSON.parse(decoder.decode(body.subarray(0, headerLength))).inputs[0].shape).toEqual([1, 4]);
    expect(body.subarray(headerLength)).toEqual(tensor);
  });

  it('deduces the one variable dimension from the byte size', () => {
    const signature: ModelSignature = {
      ...FEATURES,
      inputs: [{ name: 'FEATURES', datatype: 'FP32', shape: [-1, -1, 2] }],
    };
    const { request } = decodeInferenceRequest(
      raw(encodeBinaryTensor('FP32', [1, 2, 3, 4, 5, 6])),
      signature,
    );
    expect(request.inputs[0]!.shape).toEqual([1, 3, 2]);
  });

  it.each([
    ['a model with two inputs', SIMPLE_SIGNATURE, int32(INPUT0), 'exactly 1 input; this model has 2'],
    ['a byte count that is no whole tensor', FEATURES, new Uint8Array(10), 'has 10 bytes'],
    [
      'two variable dimensions',
      { ...FEATURES, inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, -1, -1] }] } as ModelSignature,
      new Uint8Array(16),
      'at most one variable dimension',
    ],
  ])('refuses %s with a 400', (_case, signature, bytes, message) => {
    const error = errorOf(() => decodeInferenceRequest(raw(bytes), signature));
    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    expect(error.message).toContain(message);
  });
});

describe('sageMakerBinaryRequest (the batch worker’s request body)', () => {
  const inputs = [
    { name: 'F', shape: [2, 3], datatype: 'FP32', data: [0.1, -2.5, 3.4028234663852886e38, 1e-45, 0, 7] },
    { name: 'D', shape: [2, 1], datatype: 'FP64', data: [Math.PI, -Number.MAX_VALUE] },
    { name: 'I', shape: [2, 2], datatype: 'INT32', data: [-(2 ** 31), 2 ** 31 - 1, 0, -1] },
    { name: 'U', shape: [2], datatype: 'UINT8', data: [0, 255] },
  ] as const;

  it('decodes to the tensors the JSON request gives, narrowed as Triton narrows JSON numbers', () => {
    const binary = sageMakerBinaryRequest(inputs)!;
    expect(binary.contentType).toMatch(
      /^application\/vnd\.sagemaker-triton\.binary\+json;json-header-size=\d+$/,
    );
    const decoded = decodeInferenceRequest({
      body: binary.body,
      headers: { 'content-type': binary.contentType },
    }).request.inputs;
    expect(decoded.map(({ name, shape, datatype }) => ({ name, shape, datatype }))).toEqual(
      inputs.map(({ name, shape, datatype }) => ({ name, shape, datatype })),
    );
    expect(Array.from(decoded[0]!.data as Float32Array)).toEqual(inputs[0].data.map(Math.fround));
    for (const i of [1, 2, 3])
      expect(Array.from(decoded[i]!.data as ArrayLike<number>)).toEqual(inputs[i]!.data);
  });

  it('leaves a request with an input that has no exact binary form here to JSON', () => {
    for (const datatype of ['FP16', 'INT64', 'UINT64', 'BOOL', 'BYTES']) {
      expect(
        sageMakerBinaryRequest([inputs[0], { name: 'X', shape: [1], datatype, data: [1] }]),
      ).toBeUndefined();
    }
  });
});
