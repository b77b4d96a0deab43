/**
 * Between the public API and the backend: turns a client's request body into a checked request plus
 * the bytes to send to SageMaker, and the backend's answer into the client's response.
 *
 * Two request forms, as Triton's HTTP API takes them:
 * - v2 JSON, sent to the endpoint as `application/json`.
 * - The binary tensor extension: a JSON header, then the raw little-endian tensors of the inputs that
 *   declare `parameters.binary_data_size`, in header order. The header's length comes in
 *   `Inference-Header-Content-Length` (Triton's HTTP API) or in the `json-header-size` parameter of
 *   `application/vnd.sagemaker-triton.binary+json` (SageMaker's form, which strips custom headers).
 *   Sent to the endpoint unchanged in SageMaker's form. Binary tensors are decoded and checked
 *   against their shapes like JSON ones, so a bad one is a 400 before any backend call.
 *
 * Decisions where the specs leave room:
 * - A header length of 0 is Triton's raw binary request: one input's tensor, no JSON header. Its
 *   shape and datatype come from the model's signature, as Triton deduces them, and every output
 *   comes back in binary.
 * - FP16 in JSON is refused (given the signature), inputs and outputs alike: KServe allows JSON
 *   numbers, but Triton takes and returns FP16 only as binary data and would refuse it anyway.
 * - Binary outputs need no particular Accept: the API treats every type as binary (`*\/*`), so
 *   API Gateway turns the base64 answer back into bytes for any Accept, or none, as Triton's
 *   clients need.
 * - A binary request is recognised by `Inference-Header-Content-Length`, whatever its Content-Type,
 *   as Triton does.
 *
 * Answers: JSON stays JSON; SageMaker's binary form becomes Triton's HTTP form,
 * `application/octet-stream` with `Inference-Header-Content-Length`. Either way the model and version
 * are renamed as the client addressed them, and `id` and `parameters` pass through as the backend set
 * them (Triton echoes the request `id`; its response `parameters` are the model's own, not the
 * request's).
 */
import { mediaTypeOf, OCTET_STREAM, SAGEMAKER_TRITON_BINARY } from '../../contracts/media-types';
import { DATATYPE_SIZE, itemDims, type ModelSignature } from '../../contracts/model-signature';
import {
  BinarySections,
  INFERENCE_HEADER_CONTENT_LENGTH,
  joinBinaryBody,
  parseHeaderLength,
  readBytesElements,
  sageMakerBinaryContentType,
} from './binary-tensors';
import {
  type BinaryInputReader,
  elementCount,
  formatShape,
  type InferenceRequest,
  type InputTensor,
  InvalidInferenceRequestError,
  type Parameters,
  parseInferenceRequest,
  type RequestedOutput,
  type TensorData,
} from './protocol';
import { readTritonJson, stringifyTritonJson, TooManyTokensError } from './triton-json';

/** What the client sent, as the handler received it. */
export interface ClientRequest {
  readonly body: Uint8Array;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /**
   * True when API Gateway handed the body over as text because its Content-Type is not a binary
   * media type: bytes that are not UTF-8 did not survive, so binary tensor data is refused.
   */
  readonly receivedAsText?: boolean;
}

/** A request ready for validation and for the backend. */
export interface InferencePayload {
  /** The parsed request, checked against the model's signature before any backend call. */
  readonly request: InferenceRequest;
  /** The body to send to the endpoint, in `contentType` (JSON, or SageMaker's binary+json type). */
  readonly body: Uint8Array;
  readonly contentType: string;
}

/** What an endpoint answered. */
export interface BackendAnswer {
  readonly body: Uint8Array;
  readonly contentType: string;
}

/** The response to send to the client. */
export interface ClientResponse {
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
}

// A byte order mark stays in the text, so it fails to parse as JSON, as in Triton's rapidjson.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * Reads a client's inference request: v2 JSON, or the binary tensor extension in either framing.
 * Throws `InvalidInferenceRequestError` (a 400) for anything malformed, before any backend call.
 * Given the model's signature, also refuses FP16 tensors in JSON, which Triton takes and returns
 * only as binary data (KServe allows JSON numbers; a Triton backend would refuse them).
 */
export function decodeInferenceRequest(client: ClientRequest, signature?: ModelSignature): InferencePayload {
  const { body, headers } = client;
  if (body.length === 0)
    throw new InvalidInferenceRequestError('the request body is empty; send a JSON document');
  const headerLength = binaryHeaderLength(headers, body.length, client.receivedAsText === true);
  if (headerLength === 0) return decodeRawBinaryRequest(body, signature);
  const binary = body.subarray(headerLength ?? body.length);
  const { json, nonFinite } = parseJson(
    body.subarray(0, headerLength ?? body.length),
    headerLength,
    headers['content-type'],
  );
  const reader = new BinarySectionReader(binary, headerLength !== undefined);
  const request = parseInferenceRequest(json, reader.read, nonFinite);
  reader.finish();
  checkBinaryFlags(request);
  checkEchoedAndExact(request);
  if (signature !== undefined) checkFp16Encoding(request, signature);

  return { request, ...backendBody(request, binary, nonFinite) };
}

/**
 * The longest request `id` the API takes: Triton echoes it, so it grows on its way back as a quoted
 * error text does (`MAX_ERROR_MESSAGE` in functions/edge/http.ts). Far above any client's ids.
 */
export const MAX_REQUEST_ID_LENGTH = 8_192;

/**
 * What the API refuses that Triton would take, so that it never answers a 502 for the client's own
 * request or passes a value on changed: an id longer than MAX_REQUEST_ID_LENGTH, and an integer
 * parameter beyond 2^53 - 1, which JSON numbers read as doubles cannot carry exactly (Triton reads
 * `sequence_id` and int64 parameters as 64-bit integers, so a larger one would reach it changed).
 */
function checkEchoedAndExact(request: InferenceRequest): void {
  if (request.id !== undefined && request.id.length > MAX_REQUEST_ID_LENGTH) {
    throw new InvalidInferenceRequestError(
      `the request id has ${request.id.length} characters, more than the ${MAX_REQUEST_ID_LENGTH} this API takes`,
    );
  }
  const parameterSets: [string, Parameters | undefined][] = [
    ['request', request.parameters],
    ...request.inputs.map((t): [string, Parameters | undefined] => [`input '${t.name}'`, t.parameters]),
    ...(request.outputs ?? []).map((t): [string, Parameters | undefined] => [
      `output '${t.name}'`,
      t.parameters,
    ]),
  ];
  for (const [where, parameters] of parameterSets) {
    for (const [key, value] of Object.entries(parameters ?? {})) {
      if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
        const hint = key === 'sequence_id' ? '; a sequence_id may be sent as a string' : '';
        throw new InvalidInferenceRequestError(
          `${where} parameter '${key}' is an integer of magnitude beyond 2^53 - 1, which a JSON number cannot carry exactly here${hint}`,
        );
      }
    }
  }
}

/**
 * Triton's raw binary request: a header length of 0 and a body that is only the one input's tensor.
 * As Triton does (docs/protocol/extension_binary_data.md, "Raw Binary Request"): the model has one
 * input; its shape comes from the model, a batching model's as a batch of one, with at most one
 * other variable dimension, deduced from the byte size (a BYTES input must have shape [1]); every
 * output comes back as binary data.
 */
function decodeRawBinaryRequest(body: Uint8Array, signature: ModelSignature | undefined): InferencePayload {
  const fail = (why: string) =>
    new InvalidInferenceRequestError(
      `a header length of 0 (a raw binary request: the body is one input tensor, no JSON header) ${why}`,
    );
  if (signature === undefined) throw fail('needs the model signature');
  if (signature.inputs.length !== 1) {
    throw fail(`needs a model with exactly 1 input; this model has ${signature.inputs.length}`);
  }
  const input = signature.inputs[0]!;
  const dims = itemDims(signature, input);
  let shape: number[];
  if (input.datatype === 'BYTES') {
    if (dims.length !== 1 || (dims[0] !== 1 && dims[0] !== -1)) {
      throw fail(`needs a BYTES input of shape [1]; input '${input.name}' has ${formatShape(dims)}`);
    }
    shape = [1];
  } else {
    const variable = dims.filter((d) => d < 0).length;
    if (variable > 1) {
      throw fail(`needs at most one variable dimension; input '${input.name}' has ${formatShape(dims)}`);
    }
    const fixed = dims.filter((d) => d >= 0).reduce((a, b) => a * b, 1) * DATATYPE_SIZE[input.datatype];
    if (fixed === 0 || body.length % fixed !== 0 || (variable === 0 && body.length !== fixed)) {
      throw fail(
        `has ${body.length} bytes, which is no whole ${input.datatype} tensor of input '${input.name}' shaped ${formatShape(dims)}`,
      );
    }
    shape = dims.map((d) => (d < 0 ? body.length / fixed : d));
  }
  const header = {
    inputs: [
      {
        name: input.name,
        datatype: input.datatype,
        shape: signature.maxBatchSize > 0 ? [1, ...shape] : shape,
        parameters: { binary_data_size: body.length },
      },
    ],
    parameters: { binary_data_output: true },
  };
  const reader = new BinarySectionReader(body, true);
  const request = parseInferenceRequest(header, reader.read);
  reader.finish();
  return { request, ...backendBody(request, body) };
}

/**
 * The body for the endpoint, built from the checked request alone: fields the protocol does not
 * define (and whatever they hold) are not passed on, so the backend reads only what was validated.
 * The binary section goes on byte for byte after the rebuilt JSON header.
 */
function backendBody(
  request: InferenceRequest,
  binary: Uint8Array,
  /** The request held Triton's non-finite tokens: the endpoint gets them as written. */
  nonFinite = false,
): Pick<InferencePayload, 'body' | 'contentType'> {
  const header = {
    ...(request.id === undefined ? {} : { id: request.id }),
    ...(request.parameters === undefined ? {} : { parameters: request.parameters }),
    inputs: request.inputs.map(({ data, ...tensor }) =>
      isBinaryInput(tensor) ? tensor : { ...tensor, data },
    ),
    ...(request.outputs === undefined ? {} : { outputs: request.outputs }),
  };
  if (!request.inputs.some(isBinaryInput)) {
    const json = nonFinite ? stringifyTritonJson(header) : JSON.stringify(header);
    return { body: encoder.encode(json), contentType: 'application/json' };
  }
  const { body, headerLength } = joinBinaryBody(header, [binary]);
  // SageMaker strips Inference-Header-Content-Length, so the length rides in the content type.
  return { body, contentType: sageMakerBinaryContentType(headerLength) };
}

/** An input whose elements came as binary data (every such input declares its byte size). */
function isBinaryInput(input: Pick<InputTensor, 'parameters'>): boolean {
  return input.parameters?.binary_data_size !== undefined;
}

/**
 * The length of the JSON header of a binary request, from `Inference-Header-Content-Length` or
 * SageMaker's `json-header-size`; undefined for a plain JSON request. Both must be non-negative
 * integers no larger than the body and agree when both are given.
 */
export function binaryHeaderLength(
  headers: Readonly<Record<string, string | undefined>>,
  bodyLength: number,
  receivedAsText = false,
): number | undefined {
  const contentType = headers['content-type'];
  const fromHeader = headers[INFERENCE_HEADER_CONTENT_LENGTH.toLowerCase()];
  const fromContentType = jsonHeaderSizeOf(
    contentType,
    (message) => new InvalidInferenceRequestError(message),
  );
  if (fromHeader === undefined && fromContentType === undefined) return undefined;

  let length: number | undefined;
  if (fromHeader !== undefined) {
    length = parseByteCount(fromHeader);
    if (length === undefined) {
      throw new InvalidInferenceRequestError(
        `${INFERENCE_HEADER_CONTENT_LENGTH} must be a non-negative integer (the byte length of the JSON header), got '${fromHeader}'`,
      );
    }
    if (fromContentType !== undefined && fromContentType !== length) {
      throw new InvalidInferenceRequestError(
        `${INFERENCE_HEADER_CONTENT_LENGTH} (${length}) and the Content-Type's json-header-size (${fromContentType}) disagree; send one of them`,
      );
    }
  }
  length ??= fromContentType!;
  if (receivedAsText && length !== bodyLength) {
    throw new InvalidInferenceRequestError(
      `binary tensor data must be sent with Content-Type ${OCTET_STREAM} (or ${SAGEMAKER_TRITON_BINARY};json-header-size=N); with Content-Type '${contentType ?? 'none'}' the API passes the body on as text, which does not keep arbitrary bytes`,
    );
  }
  if (length > bodyLength) {
    const source =
      fromHeader === undefined ? "the Content-Type's json-header-size" : INFERENCE_HEADER_CONTENT_LENGTH;
    throw new InvalidInferenceRequestError(
      `${source} is ${length}, larger than the ${bodyLength}-byte request body; it must give the byte length of the JSON header at the start of the body`,
    );
  }
  return length;
}

/**
 * The `json-header-size` of SageMaker's binary+json content type; undefined for any other type.
 * `fail` builds the error for a binary+json type without a valid size.
 */
function jsonHeaderSizeOf(
  contentType: string | undefined,
  fail: (message: string) => Error,
): number | undefined {
  if (mediaTypeOf(contentType) !== SAGEMAKER_TRITON_BINARY) return undefined;
  const parameter = contentType!
    .split(';')
    .slice(1)
    .map((part) => part.trim())
    .find((part) => part.toLowerCase().startsWith('json-header-size='));
  if (parameter === undefined) {
    throw fail(
      `Content-Type ${SAGEMAKER_TRITON_BINARY} needs a json-header-size parameter giving the byte length of the JSON header, as in ${SAGEMAKER_TRITON_BINARY};json-header-size=123`,
    );
  }
  const value = parameter.slice('json-header-size='.length).replace(/^"(.*)"$/, '$1');
  const size = parseByteCount(value);
  if (size === undefined) {
    throw fail(
      `json-header-size in the Content-Type must be a non-negative integer (the byte length of the JSON header), got '${value}'`,
    );
  }
  return size;
}

/** A non-negative integer written in decimal digits only, or undefined. */
function parseByteCount(value: string): number | undefined {
  const count = parseHeaderLength(value);
  // Past 2^53 it cannot be a real length; report it as too large rather than as malformed.
  return count === undefined ? undefined : Math.min(count, Number.MAX_SAFE_INTEGER);
}

/**
 * The most non-finite tokens the API reads in a JSON request. Triton sets no limit, but reading the
 * tokens costs memory by the token (a 6 MB body of a million and a half takes the function past
 * 500 MB), and binary data carries such tensors at four bytes an element with no reading at all.
 */
export const MAX_REQUEST_NON_FINITE_TOKENS = 65_536;

/**
 * The JSON of a request as Triton reads it (`TritonJson`): standard JSON, or JSON with the bare
 * tokens `NaN`, `Infinity` and `-Infinity` (`nonFinite`), whose reading costs a scan only when
 * `JSON.parse` refused the text.
 */
function parseJson(
  bytes: Uint8Array,
  headerLength: number | undefined,
  contentType: string | undefined,
): { json: unknown; nonFinite: boolean } {
  const what =
    headerLength === undefined ? 'the request body' : `the JSON header (the first ${headerLength} bytes)`;
  try {
    return readTritonJson(decoder.decode(bytes), MAX_REQUEST_NON_FINITE_TOKENS);
  } catch (error) {
    if (error instanceof TooManyTokensError) {
      throw new InvalidInferenceRequestError(
        `${what} holds more than ${error.maxTokens} NaN or Infinity tokens, more than this API reads in JSON: send such tensors as binary data`,
      );
    }
    const hint =
      headerLength === undefined && mediaTypeOf(contentType) === OCTET_STREAM
        ? `; for binary tensor data, give the JSON header's byte length in ${INFERENCE_HEADER_CONTENT_LENGTH}`
        : '';
    throw new InvalidInferenceRequestError(`${what} is not valid JSON: ${(error as Error).message}${hint}`);
  }
}

/**
 * Whether the backend returns an output as binary data: a listed output by its own `binary_data`
 * alone, an output returned unlisted (`undefined`) by the request's `binary_data_output` (Triton's
 * src/http_server.cc, CheckBinaryOutputData and default_output_kind_).
 */
export function isBinaryOutput(request: InferenceRequest, output: RequestedOutput | undefined): boolean {
  if (output === undefined) return request.parameters?.binary_data_output === true;
  return output.parameters?.binary_data === true;
}

/** Whether any output comes back as binary data, so that the answer is a JSON header followed by tensors. */
export function expectsBinaryOutputs(request: InferenceRequest): boolean {
  // No requested outputs: every output comes back, in the request's default encoding.
  if (!request.outputs?.length) return isBinaryOutput(request, undefined);
  return request.outputs.some((output) => isBinaryOutput(request, output));
}

/** `binary_data` (per output) and `binary_data_output` (per request) must be booleans, as Triton insists. */
function checkBinaryFlags(request: InferenceRequest): void {
  const check = (parameters: Parameters | undefined, key: string, what: string) => {
    const value = parameters?.[key];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new InvalidInferenceRequestError(`${what} must be a boolean, got ${JSON.stringify(value)}`);
    }
  };
  for (const output of request.outputs ?? []) {
    check(output.parameters, 'binary_data', `output '${output.name}' parameter 'binary_data'`);
  }
  check(request.parameters, 'binary_data_output', "the inference request parameter 'binary_data_output'");
}

/**
 * Triton reads and writes FP16 only as binary data. Refused here, with the fix in the message,
 * rather than by the backend, whose refusal would reach the client as a backend error.
 */
function checkFp16Encoding(request: InferenceRequest, signature: ModelSignature): void {
  for (const input of request.inputs) {
    if (input.datatype === 'FP16' && input.parameters?.binary_data_size === undefined) {
      throw new InvalidInferenceRequestError(
        `input '${input.name}' has datatype FP16, which Triton takes only as binary data: send it with the binary tensor extension (parameters.binary_data_size), not in JSON 'data'`,
      );
    }
  }
  const returned = request.outputs?.length
    ? request.outputs.map((output) => ({ name: output.name, listed: output }))
    : signature.outputs.map((t) => ({ name: t.name, listed: undefined }));
  for (const output of returned) {
    const tensor = signature.outputs.find((t) => t.name === output.name);
    if (tensor?.datatype === 'FP16' && !isBinaryOutput(request, output.listed)) {
      throw new InvalidInferenceRequestError(
        `output '${output.name}' has datatype FP16, which Triton returns only as binary data: request it with "parameters": {"binary_data": true}, or set the request parameter binary_data_output to true`,
      );
    }
  }
}

/** Hands out the binary section of a request to its binary inputs, in order. */
class BinarySectionReader {
  private readonly sections: BinarySections;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly framed: boolean,
  ) {
    this.sections = new BinarySections(bytes);
  }

  readonly read: BinaryInputReader = (tensor, byteSize) => {
    const slice = this.sections.take(byteSize);
    if (slice === undefined) {
      const { remaining } = this.sections;
      throw new InvalidInferenceRequestError(
        this.framed
          ? `input '${tensor.name}' declares ${byteSize} bytes of binary data (parameters.binary_data_size) but only ${remaining} bytes remain after the JSON header and the inputs before it`
          : `input '${tensor.name}' declares ${byteSize} bytes of binary data (parameters.binary_data_size) but the request has no binary data: send the JSON header's byte length in ${INFERENCE_HEADER_CONTENT_LENGTH}, followed by the binary tensors`,
      );
    }
    return decodeBinaryTensor(tensor, slice);
  };

  /** Every byte after the JSON header must belong to an input. */
  finish(): void {
    if (this.sections.remaining !== 0) {
      throw new InvalidInferenceRequestError(
        `the request has ${this.bytes.length} bytes of binary data after its JSON header, but its inputs' binary_data_size add up to ${this.sections.consumed}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Binary tensors as the API reads them (the layout is in binary-tensors.ts)

/**
 * The elements of a tensor sent as binary data, checked against its shape: exactly element count ×
 * datatype size bytes, or for BYTES exactly element-count length-prefixed elements. 64-bit integers
 * come back as bigints, FP16 as numbers, BOOL as booleans, BYTES as strings (UTF-8, invalid
 * sequences replaced). Throws `InvalidInferenceRequestError`.
 */
export function decodeBinaryTensor(
  tensor: Pick<InputTensor, 'name' | 'shape' | 'datatype'>,
  bytes: Uint8Array,
): TensorData {
  const { name, shape, datatype } = tensor;
  const count = elementCount(shape);
  if (datatype === 'BYTES') return decodeBytesElements(name, shape, count, bytes);
  const size = DATATYPE_SIZE[datatype];
  if (bytes.length !== count * size) {
    throw new InvalidInferenceRequestError(
      `input '${name}' has ${bytes.length} bytes of binary data, but shape ${formatShape(shape)} of ${datatype} needs ${count * size} (${count} elements of ${size} bytes)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = <T extends { [index: number]: number | bigint }>(
    target: T,
    get: (offset: number) => number | bigint,
  ): T => {
    for (let i = 0; i < count; i++) target[i] = get(i * size) as T[number];
    return target;
  };
  switch (datatype) {
    case 'BOOL':
      return Array.from(bytes, (byte) => byte !== 0);
    case 'UINT8':
      return Uint8Array.from(bytes);
    case 'INT8':
      return new Int8Array(bytes.slice().buffer);
    case 'UINT16':
      return read(new Uint16Array(count), (at) => view.getUint16(at, true));
    case 'INT16':
      return read(new Int16Array(count), (at) => view.getInt16(at, true));
    case 'UINT32':
      return read(new Uint32Array(count), (at) => view.getUint32(at, true));
    case 'INT32':
      return read(new Int32Array(count), (at) => view.getInt32(at, true));
    case 'UINT64':
      return read(new BigUint64Array(count), (at) => view.getBigUint64(at, true));
    case 'INT64':
      return read(new BigInt64Array(count), (at) => view.getBigInt64(at, true));
    case 'FP16':
      return read(new Float32Array(count), (at) => halfToNumber(view.getUint16(at, true)));
    case 'FP32':
      return read(new Float32Array(count), (at) => view.getFloat32(at, true));
    case 'FP64':
      return read(new Float64Array(count), (at) => view.getFloat64(at, true));
  }
}

function decodeBytesElements(
  name: string,
  shape: readonly number[],
  count: number,
  bytes: Uint8Array,
): string[] {
  const read = readBytesElements(bytes, count);
  if ('fault' in read) {
    const { fault } = read;
    switch (fault.kind) {
      case 'excess':
        throw new InvalidInferenceRequestError(
          `input '${name}' has more than the ${count} BYTES elements its shape ${formatShape(shape)} needs in its binary data`,
        );
      case 'truncated-length':
        throw new InvalidInferenceRequestError(
          `input '${name}' BYTES element ${fault.index} is truncated: its 4-byte length prefix has only ${fault.remaining} bytes`,
        );
      case 'truncated-element':
        throw new InvalidInferenceRequestError(
          `input '${name}' BYTES element ${fault.index} is truncated: it declares ${fault.length} bytes but only ${fault.remaining} remain`,
        );
    }
  }
  if (read.elements.length !== count) {
    throw new InvalidInferenceRequestError(
      `input '${name}' has ${read.elements.length} BYTES elements in its binary data, but its shape ${formatShape(shape)} needs ${count}`,
    );
  }
  return read.elements.map((element) => lenientDecoder.decode(element));
}

/** IEEE 754 half-precision bits to a number. */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

// ---------------------------------------------------------------------------------------------
// Answers

/** Thrown when the backend's answer cannot be read; the handler maps it to 502. */
export class UnreadableBackendAnswerError extends Error {}

/**
 * The backend's answer with the model and version named as the client addressed them. A binary
 * answer (SageMaker's binary+json) goes back as Triton's HTTP API sends it: `application/octet-stream`
 * with the rewritten JSON header's length in `Inference-Header-Content-Length`, the binary tensors
 * byte for byte.
 */
export function encodeInferenceResponse(
  answer: BackendAnswer,
  naming: { readonly model_name: string; readonly model_version: string },
): ClientResponse {
  const headerLength = jsonHeaderSizeOf(
    answer.contentType,
    (message) =>
      new UnreadableBackendAnswerError(`the endpoint answered with a malformed content type: ${message}`),
  );
  if (headerLength === undefined) {
    const { response, nonFinite } = readAnswerJson(answer.body, 'a body');
    const named = { ...response, ...naming };
    return {
      // Outputs holding NaN or an infinity go on as Triton wrote them; other answers cost no walk.
      body: encoder.encode(nonFinite ? stringifyTritonJson(named) : JSON.stringify(named)),
      contentType: 'application/json',
      headers: {},
    };
  }
  if (headerLength > answer.body.length) {
    throw new UnreadableBackendAnswerError(
      `the endpoint's binary answer declares a ${headerLength}-byte JSON header in a ${answer.body.length}-byte body`,
    );
  }
  const { response } = readAnswerJson(answer.body.subarray(0, headerLength), 'a JSON header');
  const binary = answer.body.subarray(headerLength);
  const declared = binaryOutputBytes(response);
  if (declared !== binary.length) {
    throw new UnreadableBackendAnswerError(
      `the endpoint's binary answer carries ${binary.length} bytes of output data, but its outputs' binary_data_size add up to ${declared}`,
    );
  }
  const { body, headerLength: length } = joinBinaryBody({ ...response, ...naming }, [binary]);
  return {
    body,
    contentType: OCTET_STREAM,
    headers: { [INFERENCE_HEADER_CONTENT_LENGTH]: String(length) },
  };
}

/** The answer's JSON, and whether it held Triton's non-finite tokens (only then is it rescanned). */
function readAnswerJson(
  bytes: Uint8Array,
  what: string,
): { response: Record<string, unknown>; nonFinite: boolean } {
  let response: unknown;
  let nonFinite: boolean;
  try {
    ({ json: response, nonFinite } = readTritonJson(decoder.decode(bytes)));
  } catch {
    throw new UnreadableBackendAnswerError(`the endpoint answered with ${what} that is not JSON`);
  }
  if (typeof response !== 'object' || response === null || Array.isArray(response)) {
    throw new UnreadableBackendAnswerError('the endpoint answered with an unexpected body');
  }
  return { response: response as Record<string, unknown>, nonFinite };
}

/** The sum of the outputs' `parameters.binary_data_size` in an answer's JSON header. */
function binaryOutputBytes(response: Record<string, unknown>): number {
  const outputs = Array.isArray(response.outputs) ? (response.outputs as unknown[]) : [];
  let total = 0;
  for (const output of outputs) {
    const size = (output as { parameters?: { binary_data_size?: unknown } } | null)?.parameters
      ?.binary_data_size;
    if (typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) total += size;
  }
  return total;
}
