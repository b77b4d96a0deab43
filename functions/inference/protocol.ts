/**
 * Open Inference Protocol (KServe v2) request codec: turns any JSON value into a checked
 * `InferenceRequest` and checks it against a model signature, so that a bad request is answered
 * before any backend call. Shared by the inference handler and the local model server.
 */
import {
  DATATYPE_SIZE,
  DATATYPES,
  type Datatype,
  type ModelSignature,
  type TensorSignature,
} from '../../contracts/model-signature';
import * as z from '../../contracts/zod';

/** A request the protocol or the model's signature does not allow; the message is safe to show to clients. */
export class InvalidInferenceRequestError extends Error {
  override readonly name = 'InvalidInferenceRequestError';
}

/** One element of a JSON tensor. */
export type TensorElement = number | boolean | string;

/**
 * Tensor contents, flattened row-major: a plain array for JSON tensors. Tensors sent as binary data
 * (the binary tensor extension) decode into typed arrays, 64-bit integers as bigints and FP16 as
 * numbers (see `decodeBinaryTensor` in codec.ts).
 */
export type TensorData = TensorElement[] | ArrayLike<TensorElement | bigint>;

/**
 * Reads the binary data of an input that declares `parameters.binary_data_size`, in request order,
 * and returns its elements; throws `InvalidInferenceRequestError` when the bytes do not fit the
 * tensor. The binary tensor extension's body reader (codec.ts) is one.
 */
export type BinaryInputReader = (
  tensor: Pick<InputTensor, 'name' | 'shape' | 'datatype'>,
  byteSize: number,
) => TensorData;

/** The protocol allows only scalar parameter values. */
export type Parameters = Record<string, string | number | boolean>;

export interface InputTensor {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: Parameters;
  data: TensorData;
}

export interface RequestedOutput {
  name: string;
  parameters?: Parameters;
}

export interface InferenceRequest {
  id?: string;
  parameters?: Parameters;
  inputs: InputTensor[];
  outputs?: RequestedOutput[];
}

export interface OutputTensor {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: Parameters;
  data: TensorData;
}

export interface InferenceResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Parameters;
  outputs: OutputTensor[];
}

/** Request parameters whose names start with this are Triton's own; clients may not set them. */
export const RESERVED_PARAMETER_PREFIX = 'triton_';

// Far above any real model; bounds the recursion that unpacks nested data.
const MAX_RANK = 64;

// Issue messages complete "<where> field '<name>' ..." (see describeSchemaIssue).
const expecting = (what: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is missing' : `must be ${what}`),
});

const parametersSchema = z.record(
  z.string(),
  z.union([z.string(), z.number(), z.boolean()], expecting('a string, a finite number or a boolean')),
  expecting('an object'),
);

const nameSchema = z.string(expecting('a string')).check(z.minLength(1, 'must not be empty'));

// `datatype` and `data` values are checked by hand below, for messages that name the tensor and the element.
/** The body of a v2 inference request, as JSON (also the source of its OpenAPI schema). */
export const requestSchema = z.object(
  {
    id: z.optional(z.string(expecting('a string'))),
    parameters: z.optional(parametersSchema),
    inputs: z
      .array(
        z.object(
          {
            name: nameSchema,
            shape: z.array(z.number(expecting('a number')), expecting('an array of numbers')),
            datatype: z.string(expecting('a string')),
            parameters: z.optional(parametersSchema),
            // Absent when the input comes as binary data (`parameters.binary_data_size`).
            data: z.optional(z.custom<unknown[]>((value) => Array.isArray(value), expecting('an array'))),
          },
          expecting('an object'),
        ),
        expecting('an array'),
      )
      .check(z.minLength(1, 'must contain at least one input')),
    outputs: z.optional(
      z.array(
        z.object({ name: nameSchema, parameters: z.optional(parametersSchema) }, expecting('an object')),
        expecting('an array'),
      ),
    ),
  },
  expecting('a JSON object'),
);

/** Number of elements in a tensor of `shape`: the product of its dims (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((count, dim) => count * dim, 1);
}

export function isDatatype(value: string): value is Datatype {
  return (DATATYPES as readonly string[]).includes(value);
}

/** `[-1,16]`, the way Triton prints shapes in its messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Checks the structure of a v2 inference request and every tensor in it: shape, element count,
 * flat or nested data, and each value against its datatype. Nested data comes back flattened.
 * Given `readBinary` (the binary tensor extension), inputs that declare `parameters.binary_data_size`
 * take their elements from it instead of `data`, checked against their shapes; without it, every
 * input needs `data`. Throws only `InvalidInferenceRequestError`, whatever the input.
 */
export function parseInferenceRequest(
  body: unknown,
  readBinary?: BinaryInputReader,
  /**
   * The body was read as Triton reads JSON (`readTritonJson`), so its non-finite numbers are
   * the tokens `NaN`, `Infinity` and `-Infinity`, which floating-point inputs take as Triton does.
   */
  nonFiniteTokens = false,
): InferenceRequest {
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) {
    throw new InvalidInferenceRequestError(describeSchemaIssue(parsed.error.issues[0], body));
  }
  const { id, parameters, inputs, outputs } = parsed.data;
  // Triton refuses these before it reads any tensor (ParseJsonTritonParams in src/http_server.cc).
  if (Object.keys(parameters ?? {}).some((key) => key.startsWith(RESERVED_PARAMETER_PREFIX))) {
    throw new InvalidInferenceRequestError(
      "parameter keys starting with 'triton_' are reserved for Triton usage and should not be specified.",
    );
  }
  checkTritonParameters(parameters);

  const seenInputs = new Set<string>();
  const tensors = inputs.map((input): InputTensor => {
    if (seenInputs.has(input.name)) {
      throw new InvalidInferenceRequestError(`input '${input.name}' already exists in request`);
    }
    seenInputs.add(input.name);
    const shape = checkDimensions(input.name, input.shape);
    const datatype = checkDatatype(input.name, input.datatype);
    const tensor: InputTensor = {
      name: input.name,
      shape: checkSize(input.name, shape, datatype),
      datatype,
      data: [],
    };
    const byteSize = input.parameters?.binary_data_size;
    if (readBinary !== undefined && byteSize !== undefined) {
      tensor.data = readBinaryInput(tensor, input.data, byteSize, readBinary);
    } else if (input.data === undefined) {
      const hint =
        readBinary === undefined
          ? ''
          : "; send its elements in 'data', or as binary data with parameters.binary_data_size";
      throw new InvalidInferenceRequestError(`input '${input.name}' field 'data' is missing${hint}`);
    } else {
      tensor.data = checkData(tensor, input.data, nonFiniteTokens);
    }
    if (input.parameters !== undefined) tensor.parameters = input.parameters;
    return tensor;
  });

  const seenOutputs = new Set<string>();
  for (const output of outputs ?? []) {
    if (seenOutputs.has(output.name)) {
      throw new InvalidInferenceRequestError(`output '${output.name}' already exists in request`);
    }
    seenOutputs.add(output.name);
    classificationOf(output);
  }

  const request: InferenceRequest = { inputs: tensors };
  if (id !== undefined) request.id = id;
  if (parameters !== undefined) request.parameters = parameters;
  if (outputs !== undefined) request.outputs = outputs;
  return request;
}

/**
 * Checks a parsed request against a model's signature, in the order and words of Triton's core
 * (`InferenceRequest::Normalize` and `ValidateRequestInputs` in src/infer_request.cc of
 * triton-inference-server/core): requested outputs, the number of inputs, input names, batch size,
 * then each input's datatype and shape. Core prefixes these texts with `[request id: <id>] `; the
 * platform leaves that out.
 */
export function validateAgainstSignature(
  request: InferenceRequest,
  signature: ModelSignature,
  modelName?: string,
): void {
  const quoted = modelName === undefined ? 'the model' : `'${modelName}'`;
  const model = modelName === undefined ? 'the model' : `model '${modelName}'`;
  const names = (tensors: readonly TensorSignature[]) => tensors.map((t) => t.name).join(', ');
  const list = (items: readonly string[]) => `[${items.map((item) => `'${item}'`).join(',')}]`;

  for (const output of request.outputs ?? []) {
    const tensor = signature.outputs.find((t) => t.name === output.name);
    if (tensor === undefined) {
      throw new InvalidInferenceRequestError(
        `unexpected inference output '${output.name}' for ${model}; its outputs are ${names(signature.outputs)}`,
      );
    }
    // Triton finds this out only once the model has run; the answer is the same 400.
    if (classificationOf(output) > 0 && !CLASSIFIABLE.has(tensor.datatype)) {
      throw new InvalidInferenceRequestError(
        `class result not available for output due to unsupported type '${tensor.datatype}'`,
      );
    }
  }

  // Every input of a signature is required (the registry has no optional inputs).
  if (request.inputs.length !== signature.inputs.length) {
    const missing = signature.inputs.filter((t) => !request.inputs.some((input) => input.name === t.name));
    throw new InvalidInferenceRequestError(
      `expected ${signature.inputs.length} inputs but got ${request.inputs.length} inputs for ${model}. ` +
        `Got input(s) ${list(request.inputs.map((input) => input.name))}, but missing required input(s) ` +
        `${list(missing.map((t) => t.name))}. Please provide all required input(s).`,
    );
  }
  const expected = new Map(signature.inputs.map((t) => [t.name, t]));
  for (const input of request.inputs) {
    if (!expected.has(input.name)) {
      throw new InvalidInferenceRequestError(
        `unexpected inference input '${input.name}' for ${model}; its inputs are ${names(signature.inputs)}`,
      );
    }
  }

  if (signature.maxBatchSize > 0) {
    checkBatchSize(request.inputs, signature.maxBatchSize, quoted);
  }

  for (const input of request.inputs) {
    const tensor = expected.get(input.name)!;
    if (input.datatype !== tensor.datatype) {
      throw new InvalidInferenceRequestError(
        `inference input '${input.name}' data-type is '${input.datatype}', but ${model} expects '${tensor.datatype}'`,
      );
    }
    const fits =
      input.shape.length === tensor.shape.length &&
      tensor.shape.every((dim, i) => dim === -1 || dim === input.shape[i]);
    if (!fits) {
      throw new InvalidInferenceRequestError(
        `unexpected shape for input '${input.name}' for ${model}. Expected ${formatShape(tensor.shape)}, got ${formatShape(input.shape)}. ${signature.maxBatchSize > 0 ? BATCH_NOTE : ''}`.trimEnd(),
      );
    }
  }
}

/** What Triton adds to a shape error for a model that batches. */
const BATCH_NOTE =
  'NOTE: Setting a non-zero max_batch_size in the model config requires a batch dimension to be prepended to each input shape. ' +
  'If you want to specify the full shape including the batch dim in your input dims config, try setting max_batch_size to zero. ' +
  'See the model configuration docs for more info on max_batch_size.';

function checkBatchSize(inputs: readonly InputTensor[], maxBatchSize: number, model: string): void {
  let batch: number | undefined;
  for (const input of inputs) {
    const size = input.shape[0];
    if (size === undefined) {
      throw new InvalidInferenceRequestError(
        `input '${input.name}' has no shape but model requires batch dimension for ${model}`,
      );
    }
    if (batch === undefined) {
      batch = size;
    } else if (size !== batch) {
      throw new InvalidInferenceRequestError(
        `input '${input.name}' batch size does not match other inputs for ${model}`,
      );
    }
  }
  if (batch !== undefined && batch > maxBatchSize) {
    throw new InvalidInferenceRequestError(
      `inference request batch-size must be <= ${maxBatchSize} for ${model}`,
    );
  }
  // Triton would run an empty batch; the platform refuses it, as no model here has use for one.
  if (batch === 0) {
    throw new InvalidInferenceRequestError(
      `inference request batch-size must be between 1 and ${maxBatchSize} for ${model}, got 0`,
    );
  }
}

/** Datatypes whose values Triton ranks for the classification extension (src/classification.cc). */
export const CLASSIFIABLE: ReadonlySet<Datatype> = new Set([
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP32',
  'FP64',
]);

/**
 * How many classes an output asks for with the classification extension's `classification`
 * parameter; 0 (Triton's default) returns the output itself. Triton reads it as an unsigned integer
 * (`CheckClassificationOutput` in src/http_server.cc) and keeps it in 32 bits (`class_cnt_` of
 * `OutputInfo` in src/http_server.h), so 2^32 asks for no classification and 2^32 + 3 for three.
 */
export function classificationOf(output: RequestedOutput): number {
  const count = output.parameters?.classification;
  if (count === undefined) return 0;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw new InvalidInferenceRequestError(
      "Unable to set 'classification': attempt to access JSON non-unsigned-integer as unsigned-integer",
    );
  }
  return count % 2 ** 32;
}

/** Dimensions are unsigned integers, as Triton reads them (`IndexAsUInt` in src/http_server.cc). */
function checkDimensions(name: string, shape: number[]): number[] {
  if (shape.length > MAX_RANK) {
    throw new InvalidInferenceRequestError(
      `input '${name}' has ${shape.length} dimensions; at most ${MAX_RANK} are supported`,
    );
  }
  if (shape.some((dim) => !Number.isInteger(dim) || dim < 0)) {
    throw new InvalidInferenceRequestError(
      "Unable to parse 'shape': attempt to access JSON non-unsigned-integer as unsigned-integer",
    );
  }
  return shape;
}

const INT64_MAX = 2n ** 63n - 1n;

/**
 * Triton's overflow checks on a shape (src/http_server.cc, ParseJsonTritonIO), then the platform's
 * own limit: element counts must be exact doubles, which 2^53 keeps far above any tensor that fits a
 * request. JSON dimensions beyond 2^53 are read as the nearest double, so the printed shape may differ
 * in its last digits from the one sent.
 */
function checkSize(name: string, shape: number[], datatype: Datatype): number[] {
  const count = shape.reduce((product, dim) => product * BigInt(dim), 1n);
  if (count > INT64_MAX) {
    throw new InvalidInferenceRequestError(
      `invalid shape for input '${name}': shape ${formatShape(shape)} causes total element count to exceed maximum size of ${INT64_MAX}`,
    );
  }
  const size = datatype === 'BYTES' ? 1 : DATATYPE_SIZE[datatype];
  if (size > 1 && count > INT64_MAX / BigInt(size)) {
    throw new InvalidInferenceRequestError(
      `byte size overflow for input '${name}': element count (${count}) * data type size (${size}) exceeds maximum allowed size (${INT64_MAX})`,
    );
  }
  if (count > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidInferenceRequestError(
      `input '${name}' has shape ${formatShape(shape)} with too many elements`,
    );
  }
  return shape;
}

function checkDatatype(name: string, datatype: string): Datatype {
  if (!isDatatype(datatype)) {
    throw new InvalidInferenceRequestError(
      `input '${name}' has unknown datatype '${datatype}'; expected one of ${DATATYPES.join(', ')}`,
    );
  }
  return datatype;
}

function readBinaryInput(
  tensor: InputTensor,
  data: unknown,
  byteSize: string | number | boolean,
  readBinary: BinaryInputReader,
): TensorData {
  if (data !== undefined) {
    throw new InvalidInferenceRequestError(
      `input '${tensor.name}' has both 'data' and parameters.binary_data_size; send its elements one way only`,
    );
  }
  if (typeof byteSize !== 'number' || !Number.isSafeInteger(byteSize) || byteSize < 0) {
    throw new InvalidInferenceRequestError(
      `input '${tensor.name}' parameter 'binary_data_size' must be a non-negative integer (the byte length of its binary data), got ${describeValue(byteSize)}`,
    );
  }
  return readBinary(tensor, byteSize);
}

/** Triton's limit on how deep `data` may nest (HTTP_MAX_JSON_NESTING_DEPTH in src/http_server.cc). */
const MAX_DATA_NESTING = 100;

/** Whether any value in `data` (itself at depth 0) sits `limit` arrays deep or deeper. */
function nestsBeyond(data: unknown[], limit: number): boolean {
  let arrays: unknown[][] = [data];
  for (let depth = 0; arrays.length > 0; depth++) {
    // The elements of the arrays at this depth sit one deeper.
    if (depth + 1 >= limit && arrays.some((array) => array.length > 0)) return true;
    arrays = arrays.flatMap((array) =>
      array.filter((element): element is unknown[] => Array.isArray(element)),
    );
  }
  return false;
}

function checkData(tensor: InputTensor, data: unknown[], nonFiniteTokens: boolean): TensorData {
  // Checked first, as Triton does while it reads the elements.
  if (nestsBeyond(data, MAX_DATA_NESTING)) {
    throw new InvalidInferenceRequestError(
      `JSON nesting depth exceeds maximum allowed limit (${MAX_DATA_NESTING})`,
    );
  }
  const count = elementCount(tensor.shape);
  const nested = data.some((element) => Array.isArray(element));
  const flat = nested ? flattenNested(tensor, data) : data;
  if (flat.length !== count) {
    // Triton's texts (ReadDataFromJson in src/http_server.cc); it answers them with 500.
    if (tensor.datatype === 'BYTES') {
      throw new InvalidInferenceRequestError(
        `input '${tensor.name}' has ${flat.length} elements but its shape ${formatShape(tensor.shape)} needs ${count}`,
      );
    }
    throw new InvalidInferenceRequestError(
      flat.length > count
        ? "Unable to parse 'data': Shape does not match true shape of 'data' field"
        : "Failed to parse 'data' field: shape does not match true shape",
    );
  }
  const check =
    nonFiniteTokens && FLOATS.has(tensor.datatype)
      ? orNonFinite(ELEMENT_CHECKS[tensor.datatype])
      : ELEMENT_CHECKS[tensor.datatype];
  for (let i = 0; i < flat.length; i++) {
    const problem = check(flat[i]);
    if (problem !== undefined) {
      throw new InvalidInferenceRequestError(
        `input '${tensor.name}' element ${i} (${describeValue(flat[i])}) ${problem} for datatype ${tensor.datatype}`,
      );
    }
  }
  return flat as TensorData;
}

/** Flattens data nested one array per dimension, insisting that every level matches the shape. */
function flattenNested(tensor: InputTensor, data: unknown[]): unknown[] {
  const flat: unknown[] = [];
  const mismatch = () =>
    new InvalidInferenceRequestError(
      `input '${tensor.name}' has nested data that does not match its shape ${formatShape(tensor.shape)}`,
    );
  const visit = (level: unknown[], depth: number): void => {
    if (level.length !== tensor.shape[depth]) throw mismatch();
    const innermost = depth === tensor.shape.length - 1;
    for (const element of level) {
      if (innermost) {
        if (Array.isArray(element)) throw mismatch();
        flat.push(element);
      } else {
        if (!Array.isArray(element)) throw mismatch();
        visit(element, depth + 1);
      }
    }
  };
  if (tensor.shape.length < 2) throw mismatch();
  visit(data, 0);
  return flat;
}

/** Why a value is not an element of a datatype, or undefined when it is one. */
type ElementCheck = (value: unknown) => string | undefined;

const ofType =
  (type: 'boolean' | 'number' | 'string'): ElementCheck =>
  (value) =>
    typeof value === type ? undefined : `must be a ${type}`;

/**
 * Integers in [-2^(bits-1), 2^(bits-1)) when signed, [0, 2^bits) when not. A JSON number is a double
 * here, exact only up to 2^53 - 1 in magnitude (2^53 + 1 parses as 2^53), so 64-bit elements beyond
 * that are refused rather than passed on changed; binary data carries them exactly.
 */
const integerOf = (bits: number, signed: boolean): ElementCheck => {
  const min = Math.max(signed ? -(2 ** (bits - 1)) : 0, -Number.MAX_SAFE_INTEGER);
  const max = Math.min((signed ? 2 ** (bits - 1) : 2 ** bits) - 1, Number.MAX_SAFE_INTEGER);
  const hint = bits > 53 ? ' in JSON; send larger values as binary data' : '';
  return (value) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be an integer';
    return value >= min && value <= max ? undefined : `is out of range (${min} to ${max}${hint})`;
  };
};

/**
 * The request parameters Triton reads as its own, with its texts (ParseJsonTritonParams in
 * src/http_server.cc; TritonJson's MemberAsUInt, MemberAsBool and MemberAsString): `sequence_id` an
 * unsigned integer or a string, `sequence_start` and `sequence_end` booleans, `priority` and
 * `timeout` unsigned integers.
 */
function checkTritonParameters(parameters: Parameters | undefined): void {
  if (parameters === undefined) return;
  const isUint64 = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 64;
  const refuse = (key: string, problem: string) => {
    throw new InvalidInferenceRequestError(`Unable to parse '${key}': attempt to access JSON ${problem}`);
  };
  const { sequence_id, sequence_start, sequence_end, priority, timeout } = parameters;
  if (sequence_id !== undefined && !isUint64(sequence_id) && typeof sequence_id !== 'string')
    refuse('sequence_id', 'non-string as string');
  for (const [key, value] of [
    ['sequence_start', sequence_start],
    ['sequence_end', sequence_end],
  ] as const)
    if (value !== undefined && typeof value !== 'boolean') refuse(key, 'non-boolean as boolean');
  for (const [key, value] of [
    ['priority', priority],
    ['timeout', timeout],
  ] as const)
    if (value !== undefined && !isUint64(value)) refuse(key, 'non-unsigned-integer as unsigned-integer');
}

/**
 * Finite numbers that stay finite in the datatype. JSON.parse reads a literal too large for a double
 * (1e309) as Infinity, which JSON.stringify would pass on as null; a double beyond the datatype's
 * range would turn into infinity where the backend narrows it.
 */
const floatOf =
  (fits: (value: number) => boolean, largest: string): ElementCheck =>
  (value) => {
    if (typeof value !== 'number') return 'must be a number';
    if (!Number.isFinite(value)) return 'must be a finite number';
    return fits(value) ? undefined : `is out of range (magnitudes up to ${largest})`;
  };

const FLOATS: ReadonlySet<Datatype> = new Set(['FP16', 'FP32', 'FP64']);

/** A float check that also takes NaN and the infinities, as Triton reads them from its JSON tokens. */
const orNonFinite =
  (check: ElementCheck): ElementCheck =>
  (value) =>
    typeof value === 'number' && !Number.isFinite(value) ? undefined : check(value);

const ELEMENT_CHECKS: Record<Datatype, ElementCheck> = {
  BOOL: ofType('boolean'),
  UINT8: integerOf(8, false),
  UINT16: integerOf(16, false),
  UINT32: integerOf(32, false),
  UINT64: integerOf(64, false),
  INT8: integerOf(8, true),
  INT16: integerOf(16, true),
  INT32: integerOf(32, true),
  INT64: integerOf(64, true),
  // Narrowing rounds to nearest, so a double overflows from half an ulp above the largest finite
  // value: FP16's is 65504, with an ulp of 32 there; Math.fround narrows to FP32 exactly.
  FP16: floatOf((value) => Math.abs(value) < 65_520, '65504'),
  FP32: floatOf((value) => Number.isFinite(Math.fround(value)), '3.4028234663852886e38'),
  FP64: floatOf(() => true, String(Number.MAX_VALUE)),
  BYTES: ofType('string'),
};

function describeValue(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 32 ? `${value.slice(0, 32)}...` : value);
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/** Turns the first schema issue into a sentence that names the input tensor when there is one. */
function describeSchemaIssue(issue: z.core.$ZodIssue | undefined, body: unknown): string {
  if (issue === undefined || issue.path.length === 0) {
    return 'the inference request must be a JSON object with an "inputs" array';
  }
  const [first, index, ...rest] = issue.path;
  if (first === 'inputs' && typeof index === 'number' && rest.length > 0) {
    const name = (body as { inputs: { name?: unknown }[] }).inputs[index]?.name;
    const tensor = typeof name === 'string' && name !== '' ? `input '${name}'` : `inputs[${index}]`;
    return `${tensor} field '${formatPath(rest)}' ${issue.message}`;
  }
  return `the inference request field '${formatPath(issue.path)}' ${issue.message}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i > 0 ? '.' : ''}${String(key)}`))
    .join('');
}
