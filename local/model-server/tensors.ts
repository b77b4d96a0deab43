/**
 * The local model server's own tensors: typed arrays in the binary layout of Triton's binary tensor
 * extension, so binary request bytes become a tensor with one copy, concatenating requests into a
 * batch is a `set`, and splitting a batch's outputs is a `subarray`. JSON tensors are converted at the
 * edge. Nothing here is specific to HTTP.
 */
import { endianness } from 'node:os';
import { DATATYPE_SIZE, type Datatype } from '../../contracts/model-signature';
import { encodeBytesElements, readBytesElements } from '../../functions/inference/binary-tensors';
import { elementCount, formatShape, type TensorElement } from '../../functions/inference/protocol';

/**
 * Element storage per datatype. BOOL is one byte per element (0 or 1), FP16 keeps the IEEE half
 * bits (JavaScript on Node.js 20 has no Float16Array), 64-bit integers are BigInt arrays, and BYTES
 * holds one byte string per element, unchanged, since BYTES need not be UTF-8.
 */
export type NumericTensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;
export type TensorValues = NumericTensorData | Uint8Array[];

export interface Tensor {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly data: TensorValues;
}

/** The binary tensor layout is little-endian; typed arrays use the host's byte order. */
if (endianness() !== 'LE') {
  throw new Error('the local model server needs a little-endian host');
}

type NumericDatatype = Exclude<Datatype, 'BYTES'>;

type TypedArrayConstructor = {
  new (length: number): NumericTensorData;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): NumericTensorData;
};

const TYPED_ARRAYS: Record<NumericDatatype, TypedArrayConstructor> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** A tensor the bytes or values given cannot fill; the message is safe to show to clients. */
export class TensorDataError extends Error {
  override readonly name = 'TensorDataError';
}

/**
 * Tensor storage for JSON elements that `parseInferenceRequest` has already checked against the
 * datatype. FP16 has no JSON form in Triton; callers reject it before this.
 */
export function fromJsonElements(datatype: Datatype, elements: ArrayLike<unknown>): TensorValues {
  const count = elements.length;
  switch (datatype) {
    case 'BYTES':
      return Array.from(elements, (value) => utf8.encode(String(value)));
    case 'BOOL':
      return Uint8Array.from(elements as ArrayLike<boolean | number>, (value) => (value ? 1 : 0));
    case 'INT64':
    case 'UINT64': {
      const out = datatype === 'INT64' ? new BigInt64Array(count) : new BigUint64Array(count);
      for (let i = 0; i < count; i++) {
        const value = elements[i];
        out[i] = typeof value === 'bigint' ? value : BigInt(value as number);
      }
      return out;
    }
    default: {
      const out = new TYPED_ARRAYS[datatype](count) as Exclude<
        NumericTensorData,
        BigInt64Array | BigUint64Array
      >;
      for (let i = 0; i < count; i++) out[i] = elements[i] as number;
      return out;
    }
  }
}

/**
 * JSON elements of a tensor, as Triton writes them: BOOL as booleans, BYTES as strings, 64-bit
 * integers as numbers (beyond 2^53 they lose precision, as in Triton's JSON). FP16 has no JSON form.
 */
export function toJsonElements(datatype: Datatype, data: TensorValues): TensorElement[] {
  if (datatype === 'BYTES') return (data as Uint8Array[]).map((bytes) => utf8Decoder.decode(bytes));
  if (datatype === 'BOOL') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (datatype === 'FP16') throw new TensorDataError('FP16 tensors have no JSON form');
  if (datatype === 'INT64' || datatype === 'UINT64') return Array.from(data as BigInt64Array, Number);
  return Array.from(data as Float64Array);
}

/**
 * The binary tensor layout of `data`: raw little-endian elements, BOOL one byte each, BYTES as a
 * 4-byte little-endian length before each element. Numeric tensors come back as a view, not a copy.
 */
export function encodeBinary(datatype: Datatype, data: TensorValues): Uint8Array {
  if (datatype === 'BYTES') return encodeBytesElements(data as Uint8Array[]);
  const typed = data as NumericTensorData;
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

/**
 * Reads `bytes` as the binary layout of a tensor of `shape`, copying them so the result is aligned
 * and owns its memory. Throws `TensorDataError` when the bytes do not hold exactly that tensor.
 */
export function decodeBinary(
  name: string,
  datatype: Datatype,
  shape: readonly number[],
  bytes: Uint8Array,
): TensorValues {
  const count = elementCount(shape);
  if (datatype === 'BYTES') return decodeBytesElements(name, shape, count, bytes);
  const expected = count * DATATYPE_SIZE[datatype];
  if (bytes.byteLength !== expected) {
    throw new TensorDataError(
      `input '${name}' has ${bytes.byteLength} bytes of binary data but shape ${formatShape(shape)} of ${datatype} needs ${expected}`,
    );
  }
  const copy = new Uint8Array(expected);
  copy.set(bytes);
  return new TYPED_ARRAYS[datatype](copy.buffer, 0, count);
}

function decodeBytesElements(
  name: string,
  shape: readonly number[],
  count: number,
  bytes: Uint8Array,
): Uint8Array[] {
  const read = readBytesElements(bytes);
  if ('fault' in read) {
    const { fault } = read;
    // With no limit on the count, an element is either whole or truncated.
    throw new TensorDataError(
      fault.kind === 'truncated-element'
        ? `input '${name}': BYTES element ${fault.index} claims ${fault.length} bytes but only ${fault.remaining} remain`
        : `input '${name}': BYTES element ${fault.index} has a truncated 4-byte length prefix`,
    );
  }
  const { elements } = read;
  if (elements.length !== count) {
    throw new TensorDataError(
      `input '${name}' has ${elements.length} BYTES elements but its shape ${formatShape(shape)} needs ${count}`,
    );
  }
  // Copies, so the tensor does not hold on to the request body.
  return elements.map((element) => element.slice());
}

/** The elements of several tensors of one datatype, one after the other (dim 0 concatenation). */
export function concatenate(datatype: Datatype, parts: readonly TensorValues[]): TensorValues {
  if (parts.length === 1) return parts[0]!;
  if (datatype === 'BYTES') return (parts as Uint8Array[][]).flat();
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new TYPED_ARRAYS[datatype](total);
  let offset = 0;
  for (const part of parts) {
    (out as Uint8Array).set(part as Uint8Array, offset);
    offset += part.length;
  }
  return out;
}

/** Elements `start` (inclusive) to `end` (exclusive), sharing memory for numeric tensors. */
export function sliceElements(data: TensorValues, start: number, end: number): TensorValues {
  return Array.isArray(data) ? data.slice(start, end) : data.subarray(start, end);
}
