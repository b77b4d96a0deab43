import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DATATYPES, type ModelSignature } from '../../contracts/model-signature';
import {
  elementCount,
  type InferenceRequest,
  InvalidInferenceRequestError,
  parseInferenceRequest,
  validateAgainstSignature,
} from '../../functions/inference/protocol';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const tensor = (overrides: Record<string, unknown> = {}) => ({
  name: 'INPUT0',
  shape: [1, 4],
  datatype: 'INT32',
  data: [1, 2, 3, 4],
  ...overrides,
});

// A first element that is fine, so the bad one is the second.
const VALID_ELEMENT: Record<string, unknown> = { BOOL: true, BYTES: 'ok' };

const requestWith = (overrides: Record<string, unknown> = {}) => ({ inputs: [tensor(overrides)] });

/** The error `act` throws; fails the test when it throws nothing. */
function errorOf(act: () => unknown): Error {
  try {
    act();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, but none was thrown');
}

describe('parseInferenceRequest', () => {
  it('keeps flat data, id, parameters and requested outputs as sent', () => {
    const body = {
      id: 'req-1',
      parameters: { priority: 1, tag: 'a', sampled: true },
      inputs: [tensor({ parameters: { note: 'x' } })],
      outputs: [{ name: 'OUTPUT0', parameters: { classification: 2 } }],
    };

    expect(parseInferenceRequest(body)).toEqual(body);
  });

  // Triton's src/http_server.cc, ParseJsonTritonParams: request parameters named triton_* are its own.
  it.each(['triton_enable_empty_final_response', 'triton_'])(
    'refuses the reserved request parameter %s',
    (key) => {
      expect(
        errorOf(() => parseInferenceRequest({ ...requestWith(), parameters: { [key]: true } })).message,
      ).toBe(
        "parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified.",
      );
    },
  );

  it('takes parameters that only contain triton_ further in, and triton_ names on tensors', () => {
    const request = {
      parameters: { my_triton_flag: 1 },
      inputs: [tensor({ parameters: { triton_note: 'x' } })],
    };
    expect(() => parseInferenceRequest(request)).not.toThrow();
  });

  // Triton's src/http_server.cc (HTTP_MAX_JSON_NESTING_DEPTH); qa/L0_http/http_test.py test_json_recursion_depth_limit.
  it.each([
    [99, false],
    [100, true],
    [120, true],
  ])('refuses data nested %i arrays deep: %s', (depth, refused) => {
    let data: unknown = 1;
    for (let i = 0; i < depth; i++) data = [data];
    const act = () => parseInferenceRequest({ inputs: [tensor({ shape: [1, 1], data })] });
    if (refused) expect(act).toThrow('JSON nesting depth exceeds maximum allowed limit (100)');
    else expect(act).toThrow('has nested data that does not match its shape');
  });

  it('leaves out optional fields the request does not have', () => {
    expect(Object.keys(parseInferenceRequest(requestWith()))).toEqual(['inputs']);
  });

  it.each([
    [
      'a matrix',
      [2, 3],
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      [1, 2, 3, 4, 5, 6],
    ],
    [
      'a rank-3 tensor',
      [2, 2, 2],
      [
        [
          [1, 2],
          [3, 4],
        ],
        [
          [5, 6],
          [7, 8],
        ],
      ],
      [1, 2, 3, 4, 5, 6, 7, 8],
    ],
    ['a batch of one', [1, 3], [[7, 8, 9]], [7, 8, 9]],
    ['rows with no elements', [2, 0], [[], []], []],
  ])('flattens nested data of %s row-major', (_, shape, data, flat) => {
    const request = parseInferenceRequest(requestWith({ shape, data }));

    expect(request.inputs[0]!.data).toEqual(flat);
  });

  it.each([
    ['a scalar', [], [5], 1],
    ['an empty batch', [0, 16], [], 0],
    ['a vector', [3], [1, 2, 3], 3],
  ])('accepts %s whose element count matches its shape', (_, shape, data, count) => {
    expect(parseInferenceRequest(requestWith({ shape, data })).inputs[0]!.data).toHaveLength(count);
  });

  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'x'],
    ['a number', 42],
    ['a boolean', true],
  ])('rejects %s as the body', (_, body) => {
    expect(() => parseInferenceRequest(body)).toThrow(
      new InvalidInferenceRequestError('the inference request must be a JSON object with an "inputs" array'),
    );
  });

  it.each([
    ['inputs is missing', {}, "the inference request field 'inputs' is missing"],
    ['inputs is empty', { inputs: [] }, "field 'inputs' must contain at least one input"],
    ['inputs is not an array', { inputs: {} }, "field 'inputs' must be an array"],
    ['an input is not an object', { inputs: [null] }, "field 'inputs[0]' must be an object"],
    ['an input has no name', { inputs: [tensor({ name: undefined })] }, "inputs[0] field 'name' is missing"],
    [
      'an input name is empty',
      { inputs: [tensor({ name: '' })] },
      "inputs[0] field 'name' must not be empty",
    ],
    ['the shape is missing', requestWith({ shape: undefined }), "input 'INPUT0' field 'shape' is missing"],
    ['the shape is a string', requestWith({ shape: '1,4' }), "input 'INPUT0' field 'shape' must be an array"],
    [
      'a dim is a string',
      requestWith({ shape: [1, '4'] }),
      "input 'INPUT0' field 'shape[1]' must be a number",
    ],
    [
      'a dim is negative',
      requestWith({ shape: [-1, 4] }),
      "Unable to parse 'shape': attempt to access JSON non-unsigned-integer as unsigned-integer",
    ],
    [
      'a dim is fractional',
      requestWith({ shape: [1.5, 4] }),
      "Unable to parse 'shape': attempt to access JSON non-unsigned-integer as unsigned-integer",
    ],
    [
      'the datatype is missing',
      requestWith({ datatype: undefined }),
      "input 'INPUT0' field 'datatype' is missing",
    ],
    [
      'the datatype is unknown',
      requestWith({ datatype: 'INT128' }),
      "input 'INPUT0' has unknown datatype 'INT128'",
    ],
    ['the datatype is lower case', requestWith({ datatype: 'int32' }), "unknown datatype 'int32'"],
    ['the data is missing', requestWith({ data: undefined }), "input 'INPUT0' field 'data' is missing"],
    [
      'the data is not an array',
      requestWith({ data: 'abc' }),
      "input 'INPUT0' field 'data' must be an array",
    ],
    [
      'there are too few elements',
      requestWith({ data: [1, 2, 3] }),
      "Failed to parse 'data' field: shape does not match true shape",
    ],
    [
      'there are too many elements',
      requestWith({ data: [1, 2, 3, 4, 5] }),
      "Unable to parse 'data': Shape does not match true shape of 'data' field",
    ],
    [
      'nested rows are ragged',
      requestWith({ shape: [2, 2], data: [[1, 2], [3]] }),
      'nested data that does not match',
    ],
    [
      'nesting disagrees with the shape',
      requestWith({ shape: [2, 2], data: [[1, 2, 3, 4]] }),
      'does not match',
    ],
    [
      'nesting is deeper than the shape',
      requestWith({ shape: [1, 2], data: [[[1], [2]]] }),
      'does not match',
    ],
    [
      'nested and flat data are mixed',
      requestWith({ shape: [2, 2], data: [[1, 2], 3, 4] }),
      'does not match',
    ],
    [
      'a vector has nested data',
      requestWith({ shape: [2], data: [[1], [2]] }),
      'does not match its shape [2]',
    ],
    ['two inputs share a name', { inputs: [tensor(), tensor()] }, "input 'INPUT0' already exists in request"],
    [
      'an output is requested twice',
      { ...requestWith(), outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT0' }] },
      "output 'OUTPUT0' already exists in request",
    ],
    ['outputs is not an array', { ...requestWith(), outputs: 'OUTPUT0' }, "field 'outputs' must be an array"],
    ['an output has no name', { ...requestWith(), outputs: [{}] }, "field 'outputs[0].name' is missing"],
    ['the id is a number', { ...requestWith(), id: 7 }, "the inference request field 'id' must be a string"],
    [
      'a parameter is an object',
      { ...requestWith(), parameters: { nested: { a: 1 } } },
      "field 'parameters.nested' must be a string, a finite number or a boolean",
    ],
  ])('rejects a request where %s', (_, body, message) => {
    const error = errorOf(() => parseInferenceRequest(body));

    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    expect(error.message).toContain(message);
  });

  it.each([
    ['INT8', 128, 'is out of range (-128 to 127)'],
    ['INT8', -129, 'is out of range (-128 to 127)'],
    ['UINT8', 256, 'is out of range (0 to 255)'],
    ['UINT8', -1, 'is out of range (0 to 255)'],
    ['INT16', 32_768, 'is out of range (-32768 to 32767)'],
    ['UINT16', 65_536, 'is out of range (0 to 65535)'],
    ['INT32', 2 ** 31, 'is out of range (-2147483648 to 2147483647)'],
    ['INT32', -(2 ** 31) - 1, 'is out of range (-2147483648 to 2147483647)'],
    ['UINT32', 2 ** 32, 'is out of range (0 to 4294967295)'],
    ['UINT32', -1, 'is out of range (0 to 4294967295)'],
    // A JSON number past 2^53 - 1 has lost precision already (2^53 + 1 parses as 2^53).
    [
      'INT64',
      2 ** 53,
      'is out of range (-9007199254740991 to 9007199254740991 in JSON; send larger values as binary data)',
    ],
    [
      'INT64',
      -(2 ** 63),
      'is out of range (-9007199254740991 to 9007199254740991 in JSON; send larger values as binary data)',
    ],
    ['UINT64', 2 ** 53, 'is out of range (0 to 9007199254740991 in JSON; send larger values as binary data)'],
    ['UINT64', 2 ** 64, 'is out of range (0 to 9007199254740991 in JSON; send larger values as binary data)'],
    ['UINT64', -1, 'is out of range (0 to 9007199254740991 in JSON; send larger values as binary data)'],
    ['INT32', 1.5, 'must be an integer'],
    ['INT64', '12', 'must be an integer'],
    ['UINT8', true, 'must be an integer'],
    ['BOOL', 1, 'must be a boolean'],
    ['BOOL', 'true', 'must be a boolean'],
    ['FP32', '1.0', 'must be a number'],
    ['FP64', null, 'must be a number'],
    ['FP16', false, 'must be a number'],
    // JSON.parse reads 1e309 as Infinity; JSON.stringify would pass it on as null.
    ['FP32', Number.POSITIVE_INFINITY, 'must be a finite number'],
    ['FP64', Number.NEGATIVE_INFINITY, 'must be a finite number'],
    ['FP16', Number.NaN, 'must be a finite number'],
    // Finite as doubles, infinite once narrowed to the datatype.
    ['FP32', 1e39, 'is out of range (magnitudes up to 3.4028234663852886e38)'],
    ['FP32', -3.4028236e38, 'is out of range (magnitudes up to 3.4028234663852886e38)'],
    ['FP16', 65_520, 'is out of range (magnitudes up to 65504)'],
    ['FP16', -1e5, 'is out of range (magnitudes up to 65504)'],
    ['BYTES', 42, 'must be a string'],
  ])('rejects a %s element of %s', (datatype, value, problem) => {
    const body = requestWith({ shape: [2], datatype, data: [VALID_ELEMENT[datatype] ?? 0, value] });
    const error = errorOf(() => parseInferenceRequest(body));

    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    expect(error.message).toContain(`input 'INPUT0' element 1`);
    expect(error.message).toContain(`${problem} for datatype ${datatype}`);
  });

  it.each([
    ['INT8', [-128, 127]],
    ['UINT8', [0, 255]],
    ['INT16', [-32_768, 32_767]],
    ['UINT16', [0, 65_535]],
    ['INT32', [-2_147_483_648, 2_147_483_647]],
    ['UINT32', [0, 4_294_967_295]],
    ['INT64', [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]],
    ['UINT64', [0, Number.MAX_SAFE_INTEGER]],
    ['BOOL', [true, false]],
    // Values that round to the largest finite FP16 and FP32 values
    ['FP16', [65_519, -65_504]],
    ['FP32', [3.4028235e38, -3.4028234663852886e38]],
    ['FP64', [Number.MAX_VALUE, -0]],
    ['BYTES', ['', 'héllo']],
  ])('accepts %s elements at the edges of the type', (datatype, data) => {
    const request = parseInferenceRequest(requestWith({ shape: [2], datatype, data }));

    expect(request.inputs[0]).toMatchObject({ datatype, data });
  });

  it('throws only InvalidInferenceRequestError for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        try {
          parseInferenceRequest(body);
        } catch (error) {
          return error instanceof InvalidInferenceRequestError;
        }
        return true;
      }),
    );
  });

  it('throws only InvalidInferenceRequestError for request-shaped JSON', () => {
    const input = fc.record(
      {
        name: fc.oneof(fc.constantFrom('INPUT0', 'INPUT1', ''), fc.jsonValue()),
        shape: fc.oneof(fc.array(fc.integer({ min: -1, max: 3 }), { maxLength: 4 }), fc.jsonValue()),
        datatype: fc.oneof(fc.constantFrom(...DATATYPES, 'FP8'), fc.jsonValue()),
        parameters: fc.jsonValue(),
        data: fc.oneof(fc.array(fc.jsonValue(), { maxLength: 12 }), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.record({ id: fc.jsonValue(), inputs: fc.array(input), outputs: fc.jsonValue() }),
        (body) => {
          try {
            parseInferenceRequest(body);
          } catch (error) {
            return error instanceof InvalidInferenceRequestError;
          }
          return true;
        },
      ),
    );
  });
});

describe('validateAgainstSignature', () => {
  const simple = SIMPLE_SIGNATURE;

  const input = (name: string, shape = [1, 16], datatype = 'INT32') => ({
    name,
    shape,
    datatype,
    data: Array<number>(elementCount(shape)).fill(0),
  });
  const request = (inputs: unknown[], outputs?: { name: string }[]): InferenceRequest =>
    parseInferenceRequest({ inputs, ...(outputs ? { outputs } : {}) });

  it.each([1, 8])('accepts a batch of %i', (batch) => {
    const valid = request([input('INPUT0', [batch, 16]), input('INPUT1', [batch, 16])]);

    expect(() => validateAgainstSignature(valid, simple)).not.toThrow();
  });

  it('accepts requested outputs the model has', () => {
    const valid = request([input('INPUT0'), input('INPUT1')], [{ name: 'OUTPUT1' }]);

    expect(() => validateAgainstSignature(valid, simple)).not.toThrow();
  });

  it.each([
    [
      'an input is unknown',
      request([input('INPUT0'), input('INPUT2')]),
      "unexpected inference input 'INPUT2' for model 'simple'; its inputs are INPUT0, INPUT1",
    ],
    [
      'an input is missing',
      request([input('INPUT0')]),
      "expected 2 inputs but got 1 inputs for model 'simple'. Got input(s) ['INPUT0'], but missing required input(s) ['INPUT1']. Please provide all required input(s).",
    ],
    [
      'a datatype differs',
      request([input('INPUT0'), input('INPUT1', [1, 16], 'FP32')]),
      "inference input 'INPUT1' data-type is 'FP32', but model 'simple' expects 'INT32'",
    ],
    [
      'the rank differs',
      request([input('INPUT0', [1, 4, 4]), input('INPUT1')]),
      "unexpected shape for input 'INPUT0' for model 'simple'. Expected [-1,16], got [1,4,4]",
    ],
    [
      'a fixed dim differs',
      request([input('INPUT0', [1, 15]), input('INPUT1')]),
      'Expected [-1,16], got [1,15]',
    ],
    [
      'the batch is empty',
      request([input('INPUT0', [0, 16]), input('INPUT1', [0, 16])]),
      "inference request batch-size must be between 1 and 8 for 'simple', got 0",
    ],
    [
      'the batch is larger than max_batch_size',
      request([input('INPUT0', [9, 16]), input('INPUT1', [9, 16])]),
      "inference request batch-size must be <= 8 for 'simple'",
    ],
    [
      'inputs disagree on the batch size',
      request([input('INPUT0', [2, 16]), input('INPUT1', [3, 16])]),
      "input 'INPUT1' batch size does not match other inputs for 'simple'",
    ],
    [
      'an input has no batch dimension',
      request([input('INPUT0', []), input('INPUT1')]),
      "input 'INPUT0' has no shape but model requires batch dimension for 'simple'",
    ],
    [
      'a requested output is unknown',
      request([input('INPUT0'), input('INPUT1')], [{ name: 'OUTPUT9' }]),
      "unexpected inference output 'OUTPUT9' for model 'simple'; its outputs are OUTPUT0, OUTPUT1",
    ],
  ])('rejects a request where %s', (_, invalid, message) => {
    const error = errorOf(() => validateAgainstSignature(invalid, simple, 'simple'));

    expect(error).toBeInstanceOf(InvalidInferenceRequestError);
    expect(error.message).toContain(message);
  });

  it('says "the model" when it is not told the model name', () => {
    const error = errorOf(() => validateAgainstSignature(request([input('INPUT0')]), simple));

    expect(error.message).toMatch(/^expected 2 inputs but got 1 inputs for the model\./);
  });

  describe('for a model that does not batch', () => {
    const unbatched: ModelSignature = {
      inputs: [{ name: 'IMAGE', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [{ name: 'SCORES', datatype: 'FP32', shape: [-1] }],
      maxBatchSize: 0,
    };

    it.each([[[1, 3]], [[100, 3]], [[0, 3]]])('accepts shape %j, -1 matching any size', (shape) => {
      const valid = request([input('IMAGE', shape, 'FP32')]);

      expect(() => validateAgainstSignature(valid, unbatched)).not.toThrow();
    });

    it('rejects a fixed dim that differs', () => {
      const invalid = request([input('IMAGE', [1, 4], 'FP32')]);

      expect(() => validateAgainstSignature(invalid, unbatched)).toThrow(InvalidInferenceRequestError);
    });
  });
});

describe('elementCount', () => {
  it.each([
    [[], 1],
    [[16], 16],
    [[3, 16], 48],
    [[2, 0, 5], 0],
  ])('counts %j as %i elements', (shape, count) => {
    expect(elementCount(shape)).toBe(count);
  });
});
