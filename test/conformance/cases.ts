/**
 * Inference cases taken from Triton's, the Open Inference Protocol's and AWS's own sources, run
 * against every target (targets.ts). Each case names its source: a file of
 * github.com/triton-inference-server/server (`server:`), .../core (`core:`), KServe's
 * `docs/predict-api/v2/required_api.md` (`kserve:`) or botocore's SageMaker Runtime model
 * (`botocore:`), with the test name or section. Expected values are the sources' own, not ours.
 */
import { expect } from 'vitest';
import { encodeBinaryTensor } from '../helpers/binary-requests';
import type { Answer, InferCall, TargetName } from './targets';

export interface Expectation {
  readonly status: number;
  /** Text Triton's answer contains (qa tests check with assertIn). */
  readonly error?: string;
  /** Triton's whole error text (qa/L0_http/test.sh greps the whole body). */
  readonly exactError?: string;
  readonly check?: (answer: Answer) => void;
}

/** A target that answers otherwise, and why that is right for it. */
export interface Difference {
  readonly why: string;
  /** What this target answers instead; without it, the case does not apply to the target. */
  readonly expect?: Expectation;
}

export interface InferCase {
  readonly name: string;
  readonly source: string;
  readonly call: InferCall;
  readonly expect: Expectation;
  readonly differs?: Partial<Record<TargetName, Difference>>;
}

// The `simple` model (Triton's add/sub example, as in qa/L0_sagemaker/sagemaker_test.py): two
// INT32 [-1,16] inputs, OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1, max_batch_size 8.
export const INPUT0 = Array.from({ length: 16 }, (_, i) => i);
export const INPUT1 = Array.from({ length: 16 }, () => 1);
const SUM = INPUT0.map((x, i) => x + INPUT1[i]!);
const DIFFERENCE = INPUT0.map((x, i) => x - INPUT1[i]!);

type Tensor = { name: string; shape: number[]; datatype: string; data?: unknown[]; parameters?: object };

export const input = (
  name: string,
  data: unknown[] = INPUT0,
  shape = [1, 16],
  datatype = 'INT32',
): Tensor => ({
  name,
  shape,
  datatype,
  data,
});

export const simpleInputs = (): Tensor[] => [input('INPUT0', INPUT0), input('INPUT1', INPUT1)];

/** `value` wrapped in `depth` arrays. */
const nested = (depth: number, value: unknown): unknown[] => {
  let data: unknown = value;
  for (let i = 0; i < depth; i++) data = [data];
  return data as unknown[];
};

const simple = (request: object, extra: Partial<InferCall> = {}): InferCall => ({
  model: 'simple',
  request: { inputs: simpleInputs(), ...request },
  ...extra,
});

/** The two inputs as binary data (the binary tensor extension). */
const binaryInputs = (sizes: readonly number[] = [64, 64]) =>
  ['INPUT0', 'INPUT1'].map((name, i) => ({
    name,
    shape: [1, 16],
    datatype: 'INT32',
    parameters: { binary_data_size: sizes[i] },
  }));
const INPUT0_BYTES = encodeBinaryTensor('INT32', INPUT0);
const INPUT1_BYTES = encodeBinaryTensor('INT32', INPUT1);

interface OutputJson {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: { binary_data_size?: number };
}

export const outputsOf = (answer: Answer) => (answer.json?.outputs ?? []) as OutputJson[];

export function outputOf(answer: Answer, name: string): OutputJson {
  const found = outputsOf(answer).find((o) => o.name === name);
  if (found === undefined) throw new Error(`no output ${name} in ${JSON.stringify(answer.json)}`);
  return found;
}

/** An INT32 output's elements, from JSON data or from its binary section. */
function int32Of(answer: Answer, name: string): number[] {
  const output = outputOf(answer, name);
  if (output.data !== undefined) return output.data as number[];
  let offset = 0;
  for (const o of outputsOf(answer)) {
    if (o.name === name) break;
    offset += o.parameters?.binary_data_size ?? 0;
  }
  const size = output.parameters!.binary_data_size!;
  const bytes = answer.binary!.slice(offset, offset + size);
  return [...new Int32Array(bytes.buffer, bytes.byteOffset, size / 4)];
}

const sumAndDifference = (answer: Answer) => {
  expect(int32Of(answer, 'OUTPUT0')).toEqual(SUM);
  expect(int32Of(answer, 'OUTPUT1')).toEqual(DIFFERENCE);
};

/** Checks an answer against an expectation: status, Triton's text, and the case's own checks. */
export function meets(answer: Answer, expectation: Expectation): void {
  expect(answer.status, JSON.stringify(answer.json ?? answer.error)).toBe(expectation.status);
  if (expectation.error !== undefined) expect(answer.error).toContain(expectation.error);
  if (expectation.exactError !== undefined) expect(answer.error).toBe(expectation.exactError);
  if (expectation.status >= 400) expect(answer.error, 'an error answer carries an error text').toBeTruthy();
  expectation.check?.(answer);
}

const apiDeducesRaw =
  "the API deduces a raw binary request's tensor from the registry's signature (functions/inference/codec.ts) and refuses one it cannot deduce before any backend call, in its own words";

/** One iris row (sepal and petal lengths and widths in cm) as FP32 bytes. */
const IRIS_ROW = encodeBinaryTensor('FP32', [5.1, 3.5, 1.4, 0.2]);

const apiChecksBinaryItself =
  'the API reads binary bodies with its own codec (functions/inference/codec.ts) and refuses a bad one before any backend call, in its own words';

const simpleAnswer = (modelName: string) => ({
  model_name: modelName,
  model_version: '1',
  outputs: [
    { name: 'OUTPUT0', datatype: 'INT32', shape: [1, 16], data: SUM },
    { name: 'OUTPUT1', datatype: 'INT32', shape: [1, 16], data: DIFFERENCE },
  ],
});

/**
 * Triton's SageMaker server infers on the model named by the whole TargetModel
 * (server: src/sagemaker_server.cc, SageMakerMMEHandleInfer), so through InvokeEndpoint the model's
 * name in answers and messages is the archive name, `simple.tar.gz`.
 */
export const servedAsTargetModel =
  "Triton on SageMaker serves the model under its TargetModel (src/sagemaker_server.cc SageMakerMMEHandleInfer): the model's name is the archive name";

/**
 * A case's expectation as InvokeEndpoint meets it: the model named as Triton on SageMaker names it,
 * by the TargetModel `<model>.tar.gz` the target sends.
 */
export function asServedBySageMaker(expectation: Expectation, model: string): Expectation {
  const rename = (text: string | undefined) =>
    text?.replaceAll(`'${model}'`, `'${model}.tar.gz'`).replaceAll(`"${model}"`, `"${model}.tar.gz"`);
  return { ...expectation, error: rename(expectation.error), exactError: rename(expectation.exactError) };
}

export const INFER_CASES: readonly InferCase[] = [
  {
    name: 'JSON inference returns every output with name, datatype, shape and data',
    source:
      'server: qa/L0_sagemaker/sagemaker_test.py test_direct_inference; kserve: Inference Response JSON Object',
    call: simple({}),
    expect: { status: 200, check: (answer) => expect(answer.json).toMatchObject(simpleAnswer('simple')) },
    differs: {
      sagemaker: {
        why: servedAsTargetModel,
        expect: {
          status: 200,
          check: (answer) => expect(answer.json).toMatchObject(simpleAnswer('simple.tar.gz')),
        },
      },
    },
  },
  {
    name: 'the response echoes the request id',
    source: 'kserve: Inference Response JSON Object ("id": the identifier given in the request)',
    call: simple({ id: 'conformance-42' }),
    expect: { status: 200, check: (answer) => expect(answer.json?.id).toBe('conformance-42') },
  },
  {
    name: 'outputs in the request select which outputs come back',
    source: 'kserve: Inference Request JSON Object ("outputs": if not specified all outputs are returned)',
    call: simple({ outputs: [{ name: 'OUTPUT1' }] }),
    expect: {
      status: 200,
      check: (answer) => {
        expect(outputsOf(answer).map((o) => o.name)).toEqual(['OUTPUT1']);
        expect(int32Of(answer, 'OUTPUT1')).toEqual(DIFFERENCE);
      },
    },
  },
  {
    name: 'nested data in row-major order reads like flat data',
    source: 'server: docs/protocol/README.md and kserve: Tensor Data ("row-major order ... nested arrays")',
    call: {
      model: 'simple',
      request: {
        inputs: [input('INPUT0', [[...INPUT0]], [1, 16]), input('INPUT1', [[...INPUT1]], [1, 16])],
      },
    },
    expect: { status: 200, check: sumAndDifference },
  },
  {
    name: 'a batch of two rows comes back with batch dimension 2',
    source: 'server: docs/user_guide/model_configuration.md (max_batch_size: full shape [ -1 ] + dims)',
    call: {
      model: 'simple',
      request: {
        inputs: [
          input('INPUT0', [...INPUT0, ...INPUT0], [2, 16]),
          input('INPUT1', [...INPUT1, ...INPUT1], [2, 16]),
        ],
      },
    },
    expect: {
      status: 200,
      check: (answer) => {
        expect(outputOf(answer, 'OUTPUT0').shape).toEqual([2, 16]);
        expect(int32Of(answer, 'OUTPUT0')).toEqual([...SUM, ...SUM]);
      },
    },
  },
  {
    name: 'binary inputs after the JSON header are read in header order',
    source: 'server: docs/protocol/extension_binary_data.md (Binary Tensor Data, binary_data_size)',
    call: {
      model: 'simple',
      request: { inputs: binaryInputs() },
      binary: [INPUT0_BYTES, INPUT1_BYTES],
    },
    expect: { status: 200, check: sumAndDifference },
  },
  {
    name: 'an output asked for with binary_data: true comes back as binary data',
    source:
      'server: docs/protocol/extension_binary_data.md ("binary_data" output parameter); qa/L0_sagemaker/sagemaker_test.py test_inference_client_generated_response_binary',
    call: simple(
      {
        outputs: [
          { name: 'OUTPUT0', parameters: { binary_data: true } },
          { name: 'OUTPUT1', parameters: { binary_data: false } },
        ],
      },
      { binaryAnswer: true },
    ),
    expect: {
      status: 200,
      check: (answer) => {
        expect(outputOf(answer, 'OUTPUT0').parameters?.binary_data_size).toBe(64);
        expect(outputOf(answer, 'OUTPUT1').data).toEqual(DIFFERENCE);
        sumAndDifference(answer);
      },
    },
  },
  {
    name: 'binary_data_output: true without listed outputs returns every output as binary data',
    source: 'server: docs/protocol/extension_binary_data.md ("binary_data_output" request parameter)',
    call: simple({ parameters: { binary_data_output: true } }, { binaryAnswer: true }),
    expect: {
      status: 200,
      check: (answer) => {
        expect(outputOf(answer, 'OUTPUT0').parameters?.binary_data_size).toBe(64);
        expect(outputOf(answer, 'OUTPUT1').parameters?.binary_data_size).toBe(64);
        sumAndDifference(answer);
      },
    },
  },
  {
    name: 'an input the model does not have is refused',
    source: 'core: src/model.cc GetInput ("unexpected inference input")',
    call: { model: 'simple', request: { inputs: [input('INPUT0'), input('INPUT9')] } },
    expect: { status: 400, error: "unexpected inference input 'INPUT9' for model 'simple'" },
  },
  {
    name: 'an output the model does not have is refused',
    source: 'core: src/model.cc GetOutput ("unexpected inference output")',
    call: simple({ outputs: [{ name: 'OUTPUT9' }] }),
    expect: { status: 400, error: "unexpected inference output 'OUTPUT9' for model 'simple'" },
  },
  {
    name: "an input whose datatype is not the model's is refused",
    source: 'core: src/infer_request.cc Normalize ("data-type is")',
    call: {
      model: 'simple',
      request: { inputs: [input('INPUT0', INPUT0, [1, 16], 'FP32'), input('INPUT1')] },
    },
    expect: {
      status: 400,
      error: "inference input 'INPUT0' data-type is 'FP32', but model 'simple' expects 'INT32'",
    },
  },
  {
    name: "an input whose shape is not the model's is refused",
    source: 'core: src/infer_request.cc Normalize ("unexpected shape for input")',
    call: {
      model: 'simple',
      request: {
        inputs: [input('INPUT0', INPUT0.slice(0, 8), [1, 8]), input('INPUT1', INPUT1.slice(0, 8), [1, 8])],
      },
    },
    expect: {
      status: 400,
      error: "unexpected shape for input 'INPUT0' for model 'simple'. Expected [-1,16], got [1,8]",
    },
  },
  {
    name: 'binary data shorter than binary_data_size is refused',
    source: 'server: src/http_server.cc ParseJsonTritonIO ("unexpected size for input")',
    call: { model: 'simple', request: { inputs: binaryInputs([64, 64]) }, binary: [INPUT0_BYTES] },
    expect: {
      status: 400,
      error: "unexpected size for input 'INPUT1', expecting 64 additional bytes for model 'simple'",
    },
    differs: { api: { why: apiChecksBinaryItself, expect: { status: 400 } } },
  },
  {
    name: 'binary data beyond the inputs is refused',
    source: 'server: src/http_server.cc ParseJsonTritonIO ("unexpected additional input data")',
    call: {
      model: 'simple',
      request: { inputs: binaryInputs() },
      binary: [INPUT0_BYTES, INPUT1_BYTES, new Uint8Array(4)],
    },
    expect: { status: 400, error: "unexpected additional input data for model 'simple'" },
    differs: { api: { why: apiChecksBinaryItself, expect: { status: 400 } } },
  },
  {
    name: 'a header length beyond the body is refused with 400, not a crash',
    source:
      'server: qa/L0_http/http_test.py test_inference_header_content_length_out_of_range; qa/L0_sagemaker/sagemaker_test.py test_malformed_binary_header_out_of_range',
    call: simple({}, { headerLength: '99999999999' }),
    expect: { status: 400 },
  },
  {
    name: 'a header length larger than the body is refused',
    source: 'server: qa/L0_sagemaker/sagemaker_test.py test_malformed_binary_header_large_number',
    call: {
      model: 'simple',
      request: { inputs: [binaryInputs()[0], input('INPUT1')] },
      binary: [INPUT0_BYTES],
      headerLength: 12345,
    },
    expect: { status: 400 },
  },
  {
    name: 'a header length that is not a number is refused',
    source:
      'server: qa/L0_sagemaker/sagemaker_test.py test_malformed_binary_header_not_number and test_malformed_binary_header_negative_number',
    call: {
      model: 'simple',
      request: { inputs: [binaryInputs()[0], input('INPUT1')] },
      binary: [INPUT0_BYTES],
      headerLength: '-123',
    },
    expect: { status: 400 },
  },
  {
    name: 'a body that is not JSON is refused with 400',
    source: 'kserve: Inference Response JSON Error Object ("HTTP error status (typically 400)")',
    call: { model: 'simple', request: undefined, raw: new TextEncoder().encode('{"inputs": [') },
    expect: { status: 400 },
  },
  {
    name: 'binary_data_output: true leaves listed outputs as JSON unless they ask for binary_data',
    source:
      'server: qa/L0_http/test.sh "binary_data_output=true, binary_data=false on INPUT0, binary_data not given on INPUT1"; src/http_server.cc CheckBinaryOutputData',
    call: simple({
      parameters: { binary_data_output: true },
      outputs: [{ name: 'OUTPUT0', parameters: { binary_data: false } }, { name: 'OUTPUT1' }],
    }),
    expect: {
      status: 200,
      check: (answer) => {
        expect(answer.binary).toBeUndefined();
        expect(outputOf(answer, 'OUTPUT0').data).toEqual(SUM);
        expect(outputOf(answer, 'OUTPUT1').data).toEqual(DIFFERENCE);
      },
    },
  },
  {
    name: 'a listed output without binary_data comes back as JSON beside a binary one',
    source: 'server: qa/L0_http/test.sh "binary_data=true on INPUT0, binary_data not given on INPUT1"',
    call: simple(
      { outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }, { name: 'OUTPUT1' }] },
      { binaryAnswer: true },
    ),
    expect: {
      status: 200,
      check: (answer) => {
        expect(outputOf(answer, 'OUTPUT0').data).toBeUndefined();
        expect(outputOf(answer, 'OUTPUT1').data).toEqual(DIFFERENCE);
        sumAndDifference(answer);
      },
    },
  },
  {
    name: 'a binary_data parameter that is not a boolean is refused',
    source: 'server: src/http_server.cc CheckBinaryOutputData ("Unable to parse \'binary_data\'")',
    call: simple({ outputs: [{ name: 'OUTPUT0', parameters: { binary_data: 'yes' } }] }),
    expect: { status: 400, error: "Unable to parse 'binary_data'" },
    differs: {
      api: {
        why: 'the API checks the flag itself (functions/inference/codec.ts checkBinaryFlags) and names the output in its message',
        expect: { status: 400, error: "output 'OUTPUT0' parameter 'binary_data' must be a boolean" },
      },
    },
  },
  {
    name: "a request parameter whose name starts with 'triton_' is refused",
    source: 'server: src/http_server.cc ParseJsonTritonParams; docs/protocol/extension_parameters.md',
    call: simple({ parameters: { triton_enable_empty_final_response: true } }),
    expect: {
      status: 400,
      error:
        "parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified.",
    },
  },
  ...(
    [
      ['sequence_id', -1, 'non-string as string'],
      ['sequence_id', 1.5, 'non-string as string'],
      ['sequence_start', 'yes', 'non-boolean as boolean'],
      ['sequence_end', 1, 'non-boolean as boolean'],
      ['priority', '1', 'non-unsigned-integer as unsigned-integer'],
      ['timeout', -5, 'non-unsigned-integer as unsigned-integer'],
    ] as const
  ).map(([key, value, problem]) => ({
    name: `the request parameter '${key}' of the wrong type (${JSON.stringify(value)}) is refused`,
    source:
      'server: src/http_server.cc ParseJsonTritonParams; common: triton_json.h MemberAsUInt, MemberAsBool',
    call: simple({ parameters: { [key]: value } }),
    expect: { status: 400, error: `Unable to parse '${key}': attempt to access JSON ${problem}` },
  })),
  {
    name: "Triton's own request parameters of their types are taken",
    source: 'server: src/http_server.cc ParseJsonTritonParams (a sequence_id may be a string)',
    call: simple({
      parameters: {
        sequence_id: 'corr-1',
        sequence_start: true,
        sequence_end: false,
        priority: 1,
        timeout: 0,
      },
    }),
    expect: { status: 200, check: sumAndDifference },
  },
  {
    name: 'other request parameters of the allowed types are taken',
    source:
      'server: docs/protocol/extension_parameters.md; src/http_server.cc SetTritonParameterFromJsonParameter',
    call: simple({ parameters: { my_string: 'a', my_int: 7, my_bool: true } }),
    expect: { status: 200, check: sumAndDifference },
  },
  {
    name: 'too few JSON elements for the shape',
    source:
      "server: qa/L0_http/test.sh \"the 'data' field misaligns with the 'shape' field\"; src/http_server.cc ReadDataFromJson",
    call: { model: 'simple', request: { inputs: [input('INPUT0', INPUT0.slice(0, 15))] } },
    // Triton answers 500 (TRITONSERVER_ERROR_INTERNAL); the request is at fault, so 400 (docs/protocol.md).
    expect: { status: 400, exactError: "Failed to parse 'data' field: shape does not match true shape" },
  },
  {
    name: 'too many JSON elements for the shape',
    source:
      'server: qa/L0_http/test.sh (18 elements for shape [1,16]); src/http_server.cc ReadDataFromJsonHelper',
    call: { model: 'simple', request: { inputs: [input('INPUT0', [...INPUT0, 16, 17])] } },
    expect: {
      status: 400,
      exactError: "Unable to parse 'data': Shape does not match true shape of 'data' field",
    },
  },
  {
    name: 'an output listed twice is refused',
    source:
      'server: qa/L0_http/http_test.py test_duplicate_output_names; core: src/infer_request.cc AddOriginalRequestedOutput',
    call: simple({ outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT0' }] }),
    expect: { status: 400, error: "output 'OUTPUT0' already exists in request" },
  },
  {
    name: 'an input given twice is refused',
    source: 'core: src/infer_request.cc AddOriginalInput ("already exists in request")',
    call: { model: 'simple', request: { inputs: [input('INPUT0'), input('INPUT0'), input('INPUT1')] } },
    expect: { status: 400, error: "input 'INPUT0' already exists in request" },
  },
  {
    name: 'a missing input is named',
    source: 'core: src/infer_request.cc ValidateRequestInputs',
    call: { model: 'simple', request: { inputs: [input('INPUT0')] } },
    expect: {
      status: 400,
      exactError:
        "expected 2 inputs but got 1 inputs for model 'simple'. Got input(s) ['INPUT0'], but missing required input(s) ['INPUT1']. Please provide all required input(s).",
    },
  },
  {
    name: 'a batch larger than max_batch_size is refused',
    source: 'core: src/infer_request.cc Normalize ("batch-size must be <=")',
    call: {
      model: 'simple',
      request: {
        inputs: [
          input('INPUT0', Array(9 * 16).fill(1), [9, 16]),
          input('INPUT1', Array(9 * 16).fill(1), [9, 16]),
        ],
      },
    },
    expect: { status: 400, error: "inference request batch-size must be <= 8 for 'simple'" },
  },
  {
    name: 'inputs with different batch sizes are refused',
    source: 'core: src/infer_request.cc Normalize ("batch size does not match other inputs")',
    call: {
      model: 'simple',
      request: { inputs: [input('INPUT0'), input('INPUT1', [...INPUT1, ...INPUT1], [2, 16])] },
    },
    expect: { status: 400, error: "input 'INPUT1' batch size does not match other inputs for 'simple'" },
  },
  {
    name: 'a negative dimension is refused',
    source: 'server: qa/L0_http/http_test.py test_negative_dimensions',
    call: { model: 'simple', request: { inputs: [input('INPUT0', [1], [2, -5])] } },
    // Triton answers 500 here; the request is at fault, so 400 (docs/protocol.md).
    expect: {
      status: 400,
      error: "Unable to parse 'shape': attempt to access JSON non-unsigned-integer as unsigned-integer",
    },
  },
  {
    name: 'a shape whose element count overflows int64 is refused',
    source: 'server: qa/L0_http/http_test.py test_buffer_size_overflow (GetElementCount overflow)',
    call: { model: 'simple', request: { inputs: [input('INPUT0', [1], [2 ** 4, 2 ** 60 + 2])] } },
    expect: { status: 400, error: 'causes total element count to exceed maximum size of' },
  },
  {
    name: 'a shape whose byte size overflows int64 is refused',
    source:
      'server: qa/L0_http/http_test.py test_buffer_size_overflow (type_byte_size multiplication overflow)',
    call: { model: 'simple', request: { inputs: [input('INPUT0', [1], [2 ** 2, 2 ** 60 + 2])] } },
    expect: { status: 400, error: 'byte size overflow for input' },
  },
  {
    name: 'a raw binary request to a model with several inputs is refused',
    source: 'server: qa/L0_http/http_test.py test_multi_inputs; core: src/infer_request.cc Normalize',
    call: { model: 'simple', request: undefined, raw: encodeBinaryTensor('INT32', INPUT0), headerLength: 0 },
    expect: {
      status: 400,
      error:
        "Raw request must only have 1 input (found 1) to be deduced but got 2 inputs in 'simple' model configuration",
    },
    differs: { api: { why: apiDeducesRaw, expect: { status: 400, error: 'a header length of 0' } } },
  },
  {
    name: "a raw binary request is the only input's data, and every output comes back binary",
    source:
      'server: qa/L0_http/http_test.py test_raw_binary; docs/protocol/extension_binary_data.md (Raw Binary Request)',
    call: { model: 'iris', request: undefined, raw: IRIS_ROW, headerLength: 0, binaryAnswer: true },
    expect: {
      status: 200,
      check: (answer) => {
        expect(outputOf(answer, 'PROBABILITIES')).toMatchObject({
          datatype: 'FP32',
          shape: [1, 3],
          parameters: { binary_data_size: 12 },
        });
        expect(outputOf(answer, 'LABEL').parameters?.binary_data_size).toBe(8);
        expect(answer.binary?.byteLength).toBe(20);
      },
    },
  },
  {
    name: 'a raw binary request whose bytes do not fill whole elements is refused',
    source:
      'core: src/infer_request.cc Normalize (raw input shape) and ValidateInputs ("input byte size mismatch")',
    call: { model: 'iris', request: undefined, raw: new Uint8Array(18), headerLength: 0 },
    expect: {
      status: 400,
      error: "input byte size mismatch for input 'FEATURES' for model 'iris'. Expected 16, got 18",
    },
    differs: { api: { why: apiDeducesRaw, expect: { status: 400, error: 'a header length of 0' } } },
  },
  {
    name: 'an unknown model is a 404',
    source:
      'core: src/model_repository_manager/model_repository_manager.cc GetModel ("Request for unknown model") and model_lifecycle.cc (NOT_FOUND); server: src/http_server.cc HttpCodeFromError',
    call: { model: 'no-such-model', request: { inputs: simpleInputs() } },
    expect: { status: 404, error: "Request for unknown model: 'no-such-model' is not found" },
    differs: {
      sagemaker: {
        why: 'SageMaker itself refuses a TargetModel the endpoint cannot load, with a 400 ValidationError, before any container',
        expect: { status: 400, check: (answer) => expect(answer.sdkError).toBe('ValidationError') },
      },
      api: {
        why: 'the API looks the model up in its registry and answers 404 in its own words',
        expect: { status: 404, error: "model 'no-such-model' is not found" },
      },
    },
  },
  {
    name: 'data nested beyond 100 levels is refused',
    source:
      'server: qa/L0_http/http_test.py test_json_recursion_depth_limit; src/http_server.cc ReadDataFromJsonHelper',
    call: {
      model: 'simple',
      request: { inputs: [input('INPUT0', nested(120, 1), [1, 1]), input('INPUT1', nested(120, 1), [1, 1])] },
    },
    expect: { status: 400, error: 'JSON nesting depth exceeds maximum allowed limit (100)' },
  },
];

const irisRows = (rows: number) => ({
  name: 'FEATURES',
  shape: [rows, 4],
  datatype: 'FP32',
  data: Array.from({ length: rows }, () => [5.1, 3.5, 1.4, 0.2]).flat(),
});

const iris = (outputs: object[], rows = 1, extra: Partial<InferCall> = {}): InferCall => ({
  model: 'iris',
  request: { inputs: [irisRows(rows)], outputs },
  ...extra,
});

const IRIS_LABELS = ['setosa', 'versicolor', 'virginica'];

/** `<value>:<index>:<label>` elements: six decimals, the label of that index, highest value first. */
function expectClasses(elements: unknown[], labelled: boolean): void {
  const parsed = elements.map((element) => {
    const match = /^(-?\d+\.\d{6}|-?\d+):(\d+)(?::(.*))?$/.exec(String(element));
    expect(match, String(element)).not.toBeNull();
    return { value: Number(match![1]), index: Number(match![2]), label: match![3] };
  });
  for (const { index, label } of parsed) expect(label).toBe(labelled ? IRIS_LABELS[index] : undefined);
  const values = parsed.map((p) => p.value);
  expect(values).toEqual([...values].sort((a, b) => b - a));
}

export const CLASSIFICATION_CASES: readonly InferCase[] = [
  {
    name: 'classification returns the top k classes as BYTES "<value>:<index>:<label>", shape [batch, k]',
    source:
      'server: docs/protocol/extension_classification.md; src/classification.cc TopkClassifications; triton-image/model_repository/iris/config.pbtxt (label_filename)',
    call: iris([{ name: 'PROBABILITIES', parameters: { classification: 2 } }]),
    expect: {
      status: 200,
      check: (answer) => {
        const output = outputOf(answer, 'PROBABILITIES');
        expect(output).toMatchObject({ datatype: 'BYTES', shape: [1, 2] });
        expectClasses(output.data!, true);
        // A short-stemmed, short-petaled flower is a setosa, with most of the probability.
        expect(String(output.data![0])).toMatch(/^0\.9\d{5}:0:setosa$/);
      },
    },
  },
  {
    name: 'classification of a batch ranks each row on its own',
    source: 'server: src/http_server.cc (classification per batch entry: "[ batch-size, <count> ]")',
    call: iris([{ name: 'PROBABILITIES', parameters: { classification: 1 } }], 3),
    expect: {
      status: 200,
      check: (answer) => {
        const output = outputOf(answer, 'PROBABILITIES');
        expect(output).toMatchObject({ datatype: 'BYTES', shape: [3, 1] });
        expect(new Set(output.data!.map(String)).size).toBe(1);
        expect(String(output.data![0])).toMatch(/:0:setosa$/);
      },
    },
  },
  {
    name: 'asking for more classes than the output has returns them all',
    source: 'server: src/classification.cc (class_cnt = min(element_cnt, req_class_cnt))',
    call: iris([{ name: 'PROBABILITIES', parameters: { classification: 10 } }]),
    expect: {
      status: 200,
      check: (answer) => {
        const output = outputOf(answer, 'PROBABILITIES');
        expect(output.shape).toEqual([1, 3]);
        expectClasses(output.data!, true);
        expect(output.data!.map((e) => String(e).split(':')[2]).sort()).toEqual(IRIS_LABELS);
      },
    },
  },
  {
    name: 'an output without label_filename is classified without labels, integers printed whole',
    source:
      'server: docs/protocol/extension_classification.md ("the <label> ... is optional"); src/classification.cc',
    call: iris([{ name: 'LABEL', parameters: { classification: 1 } }, { name: 'PROBABILITIES' }]),
    expect: {
      status: 200,
      check: (answer) => {
        expect(outputOf(answer, 'LABEL')).toMatchObject({ datatype: 'BYTES', shape: [1, 1], data: ['0:0'] });
        expect(outputOf(answer, 'PROBABILITIES').datatype).toBe('FP32');
      },
    },
  },
  {
    name: 'a classification output asked for as binary data comes back as BYTES binary data',
    source: 'server: src/http_server.cc (classification output serialized with 4-byte lengths; binary_data)',
    call: iris([{ name: 'PROBABILITIES', parameters: { classification: 1, binary_data: true } }], 1, {
      binaryAnswer: true,
    }),
    expect: {
      status: 200,
      check: (answer) => {
        const output = outputOf(answer, 'PROBABILITIES');
        expect(output).toMatchObject({ datatype: 'BYTES', shape: [1, 1] });
        const bytes = answer.binary!;
        const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
        expect(length).toBe(bytes.byteLength - 4);
        expect(new TextDecoder().decode(bytes.subarray(4))).toMatch(/^0\.9\d{5}:0:setosa$/);
      },
    },
  },
  {
    name: 'classification 0 returns the output itself',
    source: 'server: src/http_server.cc CheckClassificationOutput (class_cnt_ 0: no classification)',
    call: iris([{ name: 'PROBABILITIES', parameters: { classification: 0 } }]),
    expect: {
      status: 200,
      check: (answer) =>
        expect(outputOf(answer, 'PROBABILITIES')).toMatchObject({ datatype: 'FP32', shape: [1, 3] }),
    },
  },
  {
    name: 'a classification count that is not an unsigned integer is refused',
    source: 'server: src/http_server.cc CheckClassificationOutput ("Unable to set \'classification\'")',
    call: iris([{ name: 'PROBABILITIES', parameters: { classification: -1 } }]),
    expect: {
      status: 400,
      exactError:
        "Unable to set 'classification': attempt to access JSON non-unsigned-integer as unsigned-integer",
    },
  },
];

/** A GET on the `/v2` routes, for the targets that have them (SageMaker's InvokeEndpoint has none). */
export interface GetCase {
  readonly name: string;
  readonly source: string;
  readonly path: string;
  readonly expect: Expectation;
  /** Targets the route exists on, and why the others have none. */
  readonly targets: readonly TargetName[];
  readonly why?: string;
}

const SIMPLE_CONFIG = {
  name: 'simple',
  platform: 'onnxruntime_onnx',
  max_batch_size: 8,
  input: [
    { name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] },
    { name: 'INPUT1', data_type: 'TYPE_INT32', dims: [16] },
  ],
  output: [
    { name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16] },
    { name: 'OUTPUT1', data_type: 'TYPE_INT32', dims: [16] },
  ],
};

const statsOf = (answer: Answer) => (answer.json?.model_stats ?? []) as unknown[];

const DURATION = { count: expect.any(Number), ns: expect.any(Number) };
const noStatsOnApi =
  'the API exposes no statistics: they describe one Triton instance, and the platform runs many behind SageMaker';

export const GET_CASES: readonly GetCase[] = [
  {
    name: 'liveness answers 200',
    source: 'kserve: Server Live (GET v2/health/live); server: docs/protocol/README.md',
    path: '/v2/health/live',
    expect: { status: 200 },
    targets: ['triton', 'api'],
  },
  {
    name: 'readiness answers 200',
    source: 'kserve: Server Ready (GET v2/health/ready)',
    path: '/v2/health/ready',
    expect: { status: 200 },
    targets: ['triton', 'api'],
  },
  {
    name: 'model readiness answers 200',
    source: 'kserve: Model Ready (GET v2/models/{MODEL_NAME}[/versions/{MODEL_VERSION}]/ready)',
    path: '/v2/models/simple/ready',
    expect: { status: 200 },
    targets: ['triton', 'api'],
  },
  {
    name: 'model metadata names the model, its versions, platform, inputs and outputs',
    source: 'kserve: Model Metadata Response JSON Object ($metadata_model_response)',
    path: '/v2/models/simple',
    expect: {
      status: 200,
      check: (answer) =>
        expect(answer.json).toMatchObject({
          name: 'simple',
          versions: expect.arrayContaining(['1']),
          platform: 'onnxruntime_onnx',
          inputs: [
            { name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] },
            { name: 'INPUT1', datatype: 'INT32', shape: [-1, 16] },
          ],
          outputs: [
            { name: 'OUTPUT0', datatype: 'INT32', shape: [-1, 16] },
            { name: 'OUTPUT1', datatype: 'INT32', shape: [-1, 16] },
          ],
        }),
    },
    targets: ['triton', 'api'],
  },
  {
    name: 'model statistics carry every field of $model_stat, with measured compute phases',
    source: 'server: docs/protocol/extension_statistics.md ($model_stat, $inference_stats, $batch_stats)',
    path: '/v2/models/simple/stats',
    expect: {
      status: 200,
      check: (answer) => {
        const [stat] = statsOf(answer) as Record<string, unknown>[];
        expect(stat).toEqual({
          name: 'simple',
          version: '1',
          last_inference: expect.any(Number),
          inference_count: expect.any(Number),
          execution_count: expect.any(Number),
          inference_stats: {
            success: DURATION,
            fail: DURATION,
            queue: DURATION,
            compute_input: DURATION,
            compute_infer: DURATION,
            compute_output: DURATION,
            cache_hit: { count: 0, ns: 0 },
            cache_miss: { count: 0, ns: 0 },
          },
          response_stats: {},
          batch_stats: expect.arrayContaining([
            { batch_size: 1, compute_input: DURATION, compute_infer: DURATION, compute_output: DURATION },
          ]),
          memory_usage: [],
        });
        const inference = stat!.inference_stats as Record<string, { count: number; ns: number }>;
        // The inference cases ran first: every successful request went through all three phases.
        expect(inference.success!.count).toBeGreaterThan(0);
        for (const phase of ['queue', 'compute_input', 'compute_infer', 'compute_output']) {
          expect(inference[phase]!.count, phase).toBe(inference.success!.count);
        }
        expect(inference.compute_infer!.ns).toBeGreaterThan(0);
      },
    },
    targets: ['triton'],
    why: noStatsOnApi,
  },
  {
    name: 'statistics of one version list that version alone',
    source:
      'server: docs/protocol/extension_statistics.md (GET v2/models[/{MODEL_NAME}[/versions/{MODEL_VERSION}]]/stats)',
    path: '/v2/models/iris/versions/1/stats',
    expect: {
      status: 200,
      check: (answer) =>
        expect(
          (statsOf(answer) as { name: string; version: string }[]).map((s) => [s.name, s.version]),
        ).toEqual([['iris', '1']]),
    },
    targets: ['triton'],
    why: noStatsOnApi,
  },
  {
    name: 'statistics without a model name cover every model',
    source:
      'server: docs/protocol/extension_statistics.md ("if not provided Triton will return the statistics for all versions of all models")',
    path: '/v2/models/stats',
    expect: {
      status: 200,
      check: (answer) =>
        expect((statsOf(answer) as { name: string }[]).map((s) => s.name)).toEqual(
          expect.arrayContaining(['iris', 'simple']),
        ),
    },
    targets: ['triton'],
    why: noStatsOnApi,
  },
  {
    name: 'server metadata names the server, its version and its extensions',
    source:
      'kserve: Server Metadata Response JSON Object; server: docs/protocol/extension_classification.md and extension_model_configuration.md ("reports ... in the extensions field")',
    path: '/v2',
    expect: {
      status: 200,
      check: (answer) => {
        expect(answer.json).toMatchObject({ name: expect.any(String), version: expect.any(String) });
        expect(answer.json?.extensions).toEqual(
          expect.arrayContaining(['classification', 'model_configuration', 'binary_tensor_data']),
        );
      },
    },
    targets: ['triton', 'api'],
  },
  {
    name: 'model configuration is the ModelConfig JSON: proto field names, TYPE_* data types, dims without the batch dimension',
    source:
      'server: docs/protocol/extension_model_configuration.md; core: src/model_config_utils.cc ModelConfigToJson',
    path: '/v2/models/simple/config',
    expect: { status: 200, check: (answer) => expect(answer.json).toMatchObject(SIMPLE_CONFIG) },
    targets: ['triton', 'api'],
  },
  {
    name: 'model configuration of a named version',
    source:
      'server: docs/protocol/extension_model_configuration.md (GET v2/models/{MODEL_NAME}[/versions/{MODEL_VERSION}]/config)',
    path: '/v2/models/iris/versions/1/config',
    expect: {
      status: 200,
      check: (answer) =>
        expect(answer.json).toMatchObject({
          name: 'iris',
          platform: 'onnxruntime_onnx',
          max_batch_size: 1024,
          input: [{ name: 'FEATURES', data_type: 'TYPE_FP32', dims: [4] }],
          output: [
            { name: 'PROBABILITIES', data_type: 'TYPE_FP32', dims: [3] },
            { name: 'LABEL', data_type: 'TYPE_INT64', dims: [1] },
          ],
        }),
    },
    targets: ['triton', 'api'],
  },
];
