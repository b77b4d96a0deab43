/**
 * The bytes of Triton's binary tensor extension, read and written by the API's codec and by the
 * local model server alike: a JSON header, then the binary data of each tensor that declares
 * `parameters.binary_data_size`, in header order and unpadded. Elements are little-endian and
 * row-major, BOOL takes one byte, and a BYTES element is a 4-byte little-endian length followed by
 * that many bytes. The header's length travels beside the body: in `Inference-Header-Content-Length`
 * on Triton's HTTP API, and in the `json-header-size` parameter of SageMaker's binary+json content
 * type (SageMaker strips custom headers).
 *
 * Each side keeps its own view of the elements and its own error messages (the model server answers
 * as Triton does); what is here is the layout they share.
 */
import { SAGEMAKER_TRITON_BINARY } from '../../contracts/media-types';
import { stringifyTritonJson } from './triton-json';

/** Triton's HTTP header giving the length of the JSON header that starts a binary body. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'Inference-Header-Content-Length';

/** SageMaker's binary content type up to the header length, as Triton on SageMaker reads it. */
export const SAGEMAKER_BINARY_PREFIX = `${SAGEMAKER_TRITON_BINARY};json-header-size=`;

/** SageMaker's content type for a JSON header of `headerLength` bytes followed by binary tensors. */
export function sageMakerBinaryContentType(headerLength: number): string {
  return `${SAGEMAKER_BINARY_PREFIX}${headerLength}`;
}

/**
 * A header length written in decimal digits (whitespace around them allowed), or undefined. The
 * value is exact only up to 2^53; callers decide how to report a larger one.
 */
export function parseHeaderLength(value: string): number | undefined {
  return /^\s*\d+\s*$/.test(value) ? Number(value) : undefined;
}

const utf8 = new TextEncoder();

/**
 * A binary body: the JSON header (non-finite numbers of its JSON outputs written as Triton writes
 * them), then each tensor's binary data in order.
 */
export function joinBinaryBody(
  header: unknown,
  sections: readonly ArrayBufferView[],
): { body: Uint8Array; headerLength: number } {
  const json = utf8.encode(stringifyTritonJson(header));
  const parts = [json, ...sections.map((s) => new Uint8Array(s.buffer, s.byteOffset, s.byteLength))];
  const body = new Uint8Array(parts.reduce((total, part) => total + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  return { body, headerLength: json.byteLength };
}

/**
 * Datatypes whose checked JSON elements (integers in range, finite floats) convert exactly into a
 * typed array: narrowing a double to FP32 rounds to nearest, as Triton's own narrowing of a JSON
 * number does. FP16, 64-bit integers, BOOL and BYTES stay JSON.
 */
const EXACT_ELEMENTS = {
  UINT8: Uint8Array,
  INT8: Int8Array,
  UINT16: Uint16Array,
  INT16: Int16Array,
  UINT32: Uint32Array,
  INT32: Int32Array,
  FP32: Float32Array,
  FP64: Float64Array,
} as const;

/** Typed arrays are in the host's byte order; the layout is little-endian, as every Lambda host is. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A request of checked inputs as SageMaker's binary+json body: each input's elements as binary
 * data, so neither side prints or parses them as text; the outputs come back as JSON. Undefined when
 * an input's datatype is not one that converts exactly, so the caller sends JSON.
 */
export function sageMakerBinaryRequest(
  inputs: readonly { name: string; shape: readonly number[]; datatype: string; data: unknown }[],
): { body: Uint8Array; contentType: string } | undefined {
  if (!LITTLE_ENDIAN) return undefined;
  const sections: ArrayBufferView[] = [];
  for (const input of inputs) {
    const Elements = EXACT_ELEMENTS[input.datatype as keyof typeof EXACT_ELEMENTS];
    if (!Elements) return undefined;
    sections.push(Elements.from(input.data as ArrayLike<number>));
  }
  const header = {
    inputs: inputs.map(({ name, shape, datatype }, i) => ({
      name,
      shape,
      datatype,
      parameters: { binary_data_size: sections[i]!.byteLength },
    })),
  };
  const { body, headerLength } = joinBinaryBody(header, sections);
  return { body, contentType: sageMakerBinaryContentType(headerLength) };
}

/** The binary data after a JSON header, handed out in header order to the tensors that declare `binary_data_size`. */
export class BinarySections {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  /** Bytes handed out so far. */
  get consumed(): number {
    return this.offset;
  }

  /** Bytes not handed out yet; every one of them must belong to a tensor. */
  get remaining(): number {
    return this.bytes.byteLength - this.offset;
  }

  /** The next `byteSize` bytes, as a view; undefined when fewer remain. */
  take(byteSize: number): Uint8Array | undefined {
    if (byteSize > this.remaining) return undefined;
    const section = this.bytes.subarray(this.offset, this.offset + byteSize);
    this.offset += byteSize;
    return section;
  }
}

/** Where a run of BYTES elements stops following the layout. */
export type BytesElementsFault =
  /** Element `index` is one more than the `limit` expected. */
  | { readonly kind: 'excess'; readonly index: number }
  /** Element `index` starts with only `remaining` bytes, too few for its 4-byte length. */
  | { readonly kind: 'truncated-length'; readonly index: number; readonly remaining: number }
  /** Element `index` declares `length` bytes, but only `remaining` follow its length. */
  | {
      readonly kind: 'truncated-element';
      readonly index: number;
      readonly length: number;
      readonly remaining: number;
    };

/**
 * The BYTES elements of `bytes`, as views into it, or where they stop following the layout; reading
 * stops at the first fault, or after `limit` elements when more bytes follow.
 */
export function readBytesElements(
  bytes: Uint8Array,
  limit = Number.POSITIVE_INFINITY,
): { readonly elements: Uint8Array[] } | { readonly fault: BytesElementsFault } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    const index = elements.length;
    if (index === limit) return { fault: { kind: 'excess', index } };
    if (bytes.byteLength - offset < 4) {
      return { fault: { kind: 'truncated-length', index, remaining: bytes.byteLength - offset } };
    }
    const length = view.getUint32(offset, true);
    offset += 4;
    if (length > bytes.byteLength - offset) {
      return {
        fault: { kind: 'truncated-element', index, length, remaining: bytes.byteLength - offset },
      };
    }
    elements.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return { elements };
}

/** BYTES elements in the layout: each one's 4-byte little-endian length, then its bytes. */
export function encodeBytesElements(elements: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(elements.reduce((total, element) => total + 4 + element.byteLength, 0));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const element of elements) {
    view.setUint32(offset, element.byteLength, true);
    out.set(element, offset + 4);
    offset += 4 + element.byteLength;
  }
  return out;
}
