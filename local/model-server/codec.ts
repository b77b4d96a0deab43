/**
 * Server side of Triton's HTTP inference body: v2 JSON, and the binary tensor extension (a JSON
 * header, then each binary tensor's raw little-endian bytes in header order). The header length
 * comes from `Inference-Header-Content-Length` on Triton's own API and from the content type's
 * `json-header-size` on SageMaker; the caller passes it in.
 *
 * Requests are checked by the shared v2 protocol module (`parseInferenceRequest` with its binary
 * input hook, then `validateAgainstSignature`), so the local server and the inference handler reject
 * the same requests with the same messages. What stays here is the server's own view of the bytes:
 * tensors as typed arrays ready for onnxruntime (FP16 as half bits, BYTES as raw bytes), Triton's
 * raw binary requests (header length 0), which the public API refuses, and the response encoding.
 */

import { DATATYPE_SIZE, type ModelSignature } from '../../contracts/model-signature';
import {
  BinarySections,
  encodeBytesElements,
  joinBinaryBody,
} from '../../functions/inference/binary-tensors';
import {
  type BinaryInputReader,
  classificationOf,
  elementCount,
  type InferenceRequest,
  InvalidInferenceRequestError,
  type Parameters,
  parseInferenceRequest,
  validateAgainstSignature,
} from '../../functions/inference/protocol';
import { readTritonJson, stringifyTritonJson } from '../../functions/inference/triton-json';
import {
  decodeBinary,
  encodeBinary,
  fromJsonElements,
  type NumericTensorData,
  type Tensor,
  TensorDataError,
  type TensorValues,
  toJsonElements,
} from './tensors';

const utf8 = new TextDecoder();

/** An output to send back, and whether it goes as binary data or as JSON. */
export interface RequestedOutput {
  readonly name: string;
  readonly binary: boolean;
  /** Classes to return in its place (the classification extension); 0 returns the output itself. */
  readonly classes: number;
}

export interface DecodedInferRequest {
  readonly id?: string;
  readonly parameters?: Parameters;
  readonly inputs: Tensor[];
  /** In response order: the outputs the request names, else every output of the model. */
  readonly outputs: RequestedOutput[];
}

export interface EncodedInferResponse {
  readonly body: Buffer;
  /** Length of the JSON header when the body carries binary outputs after it; otherwise unset. */
  readonly headerLength?: number;
}

/** What a response names besides its outputs. */
export interface ResponseHeader {
  readonly model_name: string;
  readonly model_version: string;
  readonly id?: string;
  readonly parameters?: Parameters;
}

/**
 * Decodes and checks an inference request body against the model's signature. `headerLength` is the
 * length of the JSON header when the body carries binary tensors after it, 0 for a raw binary
 * request (the body is the one input's data), and undefined for a JSON body.
 * Throws `InvalidInferenceRequestError` (Triton answers 400) for anything wrong with the request.
 */
export function decodeInferRequest(
  body: Uint8Array,
  headerLength: number | undefined,
  model: { readonly name: string; readonly signature: ModelSignature },
): DecodedInferRequest {
  // Triton answers an empty body with a 500 (server issue 8762); it is the client's mistake.
  if (body.byteLength === 0) {
    throw new InvalidInferenceRequestError(
      'the request body is empty; expected a v2 inference request in JSON',
    );
  }
  if (headerLength === 0) return decodeRawRequest(body, model);
  const jsonLength = headerLength ?? body.byteLength;
  if (!Number.isSafeInteger(jsonLength) || jsonLength < 0 || jsonLength > body.byteLength) {
    throw new InvalidInferenceRequestError(
      `inference header size should be in range (0, ${body.byteLength}), got: ${headerLength}`,
    );
  }
  let json: unknown;
  // Read as TritonJson reads (kParseNanAndInfFlag): NaN and the infinities as bare tokens.
  let nonFinite: boolean;
  try {
    ({ json, nonFinite } = readTritonJson(
      Buffer.from(body.buffer, body.byteOffset, jsonLength).toString('utf8'),
    ));
  } catch (error) {
    throw new InvalidInferenceRequestError(
      `failed to parse the request JSON buffer: ${(error as Error).message}`,
    );
  }
  const reader = binarySectionReader(body.subarray(jsonLength), model.name);
  const request = parseInferenceRequest(json, reader.read, nonFinite);
  reader.finish();
  // Triton takes FP16 only as binary data, and says so while reading the JSON, before other checks.
  const fp16 = request.inputs.find((input) => input.datatype === 'FP16' && !reader.decoded.has(input.name));
  if (fp16 !== undefined) {
    throw new InvalidInferenceRequestError(
      `receiving FP16 data via JSON is not supported. Please use the binary data format for input ${fp16.name}`,
    );
  }
  validateAgainstSignature(request, model.signature, model.name);

  const inputs = request.inputs.map(
    (input): Tensor => ({
      name: input.name,
      datatype: input.datatype,
      shape: input.shape,
      data: reader.decoded.get(input.name) ?? fromJsonElements(input.datatype, input.data),
    }),
  );
  return {
    ...(request.id === undefined ? {} : { id: request.id }),
    ...(request.parameters === undefined ? {} : { parameters: request.parameters }),
    inputs,
    outputs: requestedOutputs(request, model.signature, false),
  };
}

/**
 * Encodes a response: JSON alone when no output is binary, else the JSON header followed by each
 * binary output's bytes in header order, with the header's length for the caller's headers.
 */
export function encodeInferResponse(
  header: ResponseHeader,
  outputs: readonly { readonly tensor: Tensor; readonly binary: boolean }[],
): EncodedInferResponse {
  const blobs: Uint8Array[] = [];
  const described = outputs.map(({ tensor, binary }) => {
    const base = { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape };
    if (!binary) return { ...base, data: toJsonElements(tensor.datatype, tensor.data) };
    const bytes = encodeBinary(tensor.datatype, tensor.data);
    blobs.push(bytes);
    return { ...base, parameters: { binary_data_size: bytes.byteLength } };
  });
  const response = { ...header, outputs: described };
  // Triton writes NaN and infinities as bare tokens (TritonJson's kWriteNanAndInfFlag).
  if (blobs.length === 0) return { body: Buffer.from(stringifyTritonJson(response)) };
  const { body, headerLength } = joinBinaryBody(response, blobs);
  return { body: Buffer.from(body.buffer, body.byteOffset, body.byteLength), headerLength };
}

/**
 * Hands each binary input its bytes from the section after the JSON header, in header order, for the
 * shared v2 parser (which checks everything else of the request as it does for JSON), and keeps what
 * it decoded in the server's own typed arrays: FP16 as its half bits and BYTES as raw bytes, which
 * the parser's element view would not keep exactly.
 */
function binarySectionReader(section: Uint8Array, modelName: string) {
  const decoded = new Map<string, TensorValues>();
  const sections = new BinarySections(section);
  const read: BinaryInputReader = ({ name, datatype, shape }, byteSize) => {
    const bytes = sections.take(byteSize);
    if (bytes === undefined) {
      throw new InvalidInferenceRequestError(
        `unexpected size for input '${name}', expecting ${byteSize - sections.remaining} additional bytes for model '${modelName}'`,
      );
    }
    const data = decodeBinaryInput(name, datatype, shape, bytes);
    decoded.set(name, data);
    // The parser keeps an element view; the server uses its own copy above.
    return datatype === 'BYTES'
      ? (data as Uint8Array[]).map((bytes) => utf8.decode(bytes))
      : (data as NumericTensorData);
  };
  return {
    read,
    decoded: decoded as ReadonlyMap<string, TensorValues>,
    /** Every byte after the JSON header must belong to an input. */
    finish() {
      if (sections.remaining !== 0) {
        throw new InvalidInferenceRequestError(`unexpected additional input data for model '${modelName}'`);
      }
    },
  };
}

function decodeBinaryInput(
  name: string,
  datatype: Tensor['datatype'],
  shape: readonly number[],
  bytes: Uint8Array,
): TensorValues {
  try {
    return decodeBinary(name, datatype, shape, bytes);
  } catch (error) {
    if (error instanceof TensorDataError) throw new InvalidInferenceRequestError(error.message);
    throw error;
  }
}

/**
 * The outputs to return and how. Listed outputs come back as JSON unless their own `binary_data` is
 * true; `binary_data_output` (else `binaryByDefault`, true only for raw binary requests) sets the
 * encoding of the outputs returned without being listed, which happens only when none are listed
 * (`CheckBinaryOutputData` and `default_output_kind_` in Triton's src/http_server.cc).
 */
function requestedOutputs(
  request: Pick<InferenceRequest, 'outputs' | 'parameters'>,
  signature: ModelSignature,
  binaryByDefault: boolean,
): RequestedOutput[] {
  const all = request.parameters?.binary_data_output;
  if (all !== undefined && typeof all !== 'boolean') {
    throw new InvalidInferenceRequestError(
      `Unable to parse 'binary_data_output': attempt to access JSON non-boolean as boolean`,
    );
  }
  const listed = request.outputs ?? [];
  const outputs =
    listed.length === 0
      ? signature.outputs.map(({ name }) => ({ name, binary: all ?? binaryByDefault, classes: 0 }))
      : listed.map((output) => {
          const own = output.parameters?.binary_data;
          if (own !== undefined && typeof own !== 'boolean') {
            throw new InvalidInferenceRequestError(
              `Unable to parse 'binary_data': attempt to access JSON non-boolean as boolean`,
            );
          }
          return { name: output.name, binary: own === true, classes: classificationOf(output) };
        });
  const fp16 = outputs.find(
    (o) =>
      !o.binary && o.classes === 0 && signature.outputs.find((t) => t.name === o.name)?.datatype === 'FP16',
  );
  if (fp16 !== undefined) {
    throw new InvalidInferenceRequestError(
      `sending FP16 data via JSON is not supported. Please use the binary data format for output ${fp16.name}`,
    );
  }
  return outputs;
}

/**
 * A raw binary request (header length 0): the whole body is the data of the model's only input.
 * As in Triton's core (`InferenceRequest::Normalize`, src/infer_request.cc), the batch size is 1, at
 * most one other variable dimension is deduced from the byte count (by integer division, so bytes
 * that do not fill whole elements fail the byte size check), a BYTES input must have shape [1] and
 * gets its one element's length prepended; every output comes back as binary data.
 */
function decodeRawRequest(
  body: Uint8Array,
  model: { readonly name: string; readonly signature: ModelSignature },
): DecodedInferRequest {
  const { signature } = model;
  const [input, ...others] = signature.inputs;
  if (input === undefined || others.length > 0) {
    throw new InvalidInferenceRequestError(
      `Raw request must only have 1 input (found 1) to be deduced but got ${signature.inputs.length} inputs in '${model.name}' model configuration`,
    );
  }
  const shape = signature.maxBatchSize > 0 ? [1, ...input.shape.slice(1)] : [...input.shape];
  const variable = shape.flatMap((dim, i) => (dim === -1 ? [i] : []));
  if (variable.length > 1) {
    throw new InvalidInferenceRequestError(
      `The shape of the raw input '${input.name}' can not be deduced because there are more than one variable-sized dimension`,
    );
  }
  const [axis] = variable;
  const fixed = elementCount(shape.filter((dim) => dim !== -1));
  if (input.datatype === 'BYTES') {
    if (axis !== undefined || fixed !== 1) {
      throw new InvalidInferenceRequestError(
        `For BYTE datatype raw input '${input.name}', the model must have input shape [1]`,
      );
    }
    return rawRequest(signature, shape, encodeBytesElements([body]));
  }
  const size = DATATYPE_SIZE[input.datatype];
  if (axis !== undefined) shape[axis] = fixed === 0 ? 0 : Math.floor(body.byteLength / fixed / size);
  const expected = elementCount(shape) * size;
  if (expected !== body.byteLength) {
    throw new InvalidInferenceRequestError(
      `input byte size mismatch for input '${input.name}' for model '${model.name}'. Expected ${expected}, got ${body.byteLength}`,
    );
  }
  return rawRequest(signature, shape, body);
}

function rawRequest(signature: ModelSignature, shape: number[], bytes: Uint8Array): DecodedInferRequest {
  const input = signature.inputs[0]!;
  return {
    inputs: [
      {
        name: input.name,
        datatype: input.datatype,
        shape,
        data: decodeBinaryInput(input.name, input.datatype, shape, bytes),
      },
    ],
    outputs: requestedOutputs({}, signature, true),
  };
}
