/**
 * Compressed request bodies, as Triton's HTTP and SageMaker servers read them (server:
 * `src/http_server.cc` GetRequestCompressionType and DecompressBuffer, `src/sagemaker_server.cc`,
 * `src/data_compressor.h` DecompressData). Triton's Python client sends them from
 * `infer(..., request_compression_algorithm='gzip' | 'deflate')`: `gzip.compress` or `zlib.compress`
 * of the body, with `Content-Encoding` and an `Inference-Header-Content-Length` that counts the
 * uncompressed JSON header. Shared by the inference function and the local model server.
 */
import { promisify } from 'node:util';
import { inflateRaw as inflateRawCallback } from 'node:zlib';
import { InvalidInferenceRequestError } from './protocol';

/** What Triton names in `Accept-Encoding` when it refuses a coding. */
export const ACCEPTED_ENCODINGS = 'gzip, deflate';

/** A Content-Encoding other than gzip, deflate or identity. */
export class UnsupportedContentEncodingError extends Error {
  constructor(readonly encoding: string) {
    // Triton's text.
    super('Unsupported compression type');
  }
}

/** A compressed body that inflates to more than the limit; inflating stopped there. */
export class InflatedBodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the body inflates to more than ${limit} bytes`);
  }
}

const inflateRaw = promisify(inflateRawCallback);

const COMPRESSED = new Set(['gzip', 'deflate']);

/** Absent, empty or `identity`: the body as it is. */
function isIdentity(contentEncoding: string | undefined): contentEncoding is undefined | '' | 'identity' {
  return !contentEncoding || contentEncoding === 'identity';
}

/**
 * Whether Triton takes a Content-Encoding value. It compares the value exactly (no case folding, no
 * list): identity, `gzip` and `deflate`; anything else is refused.
 */
export function isAcceptedEncoding(contentEncoding: string | undefined): boolean {
  return isIdentity(contentEncoding) || COMPRESSED.has(contentEncoding);
}

/**
 * The body before its Content-Encoding, at most `maxBytes` of it. Triton inflates either coding with
 * zlib's header detection (inflateInit2 with windowBits 15|32), so a gzip or a zlib stream is taken
 * under either name and raw deflate under neither. It stops at the end of the first compressed
 * stream and reads nothing after it (trailing bytes, a second gzip member, the trailer's checks),
 * so here the header is read and its deflate data inflated alone, which ends in the same place. An
 * empty body is refused with Triton's text; a stream that does not inflate to its end is a 400
 * (Triton passes on what it inflated, which then fails to parse).
 */
export async function decodeContentEncoding(
  body: Uint8Array,
  contentEncoding: string | undefined,
  maxBytes: number,
): Promise<Uint8Array> {
  if (isIdentity(contentEncoding)) return body;
  if (!COMPRESSED.has(contentEncoding)) throw new UnsupportedContentEncodingError(contentEncoding);
  if (body.byteLength === 0) throw new InvalidInferenceRequestError('nothing to be decompressed');
  try {
    // maxOutputLength stops inflating there, so a small bomb never takes more memory than the limit.
    return await inflateRaw(body.subarray(deflateDataOffset(body)), { maxOutputLength: maxBytes });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new InflatedBodyTooLargeError(maxBytes);
    throw new InvalidInferenceRequestError(
      `the ${contentEncoding} request body does not inflate: ${message}`,
    );
  }
}

/**
 * Where the deflate data of a gzip (RFC 1952) or zlib (RFC 1950) stream starts, after the header
 * zlib's `inflate` checks: method 8, no reserved gzip flags, a zlib header check that divides by 31
 * and no preset dictionary (which Triton never sets).
 */
function deflateDataOffset(body: Uint8Array): number {
  const refuse = (why: string): never => {
    throw new Error(why);
  };
  if (body[0] === 0x1f && body[1] === 0x8b) {
    if (body[2] !== 8) refuse('unknown compression method');
    const flags = body[3] ?? 0;
    if (flags & 0xe0) refuse('unknown header flags set');
    let offset = 10;
    if (flags & 0x04) offset += 2 + (body[offset] ?? 0) + ((body[offset + 1] ?? 0) << 8);
    for (const flag of [0x08, 0x10]) {
      if (flags & flag) {
        const end = body.indexOf(0, offset);
        offset = end < 0 ? refuse('unexpected end of file') : end + 1;
      }
    }
    if (flags & 0x02) offset += 2;
    return offset > body.byteLength ? refuse('unexpected end of file') : offset;
  }
  const [method = 0, flag = 0] = body;
  if ((method & 0x0f) !== 8 || method >> 4 > 7 || ((method << 8) | flag) % 31 !== 0) {
    refuse('incorrect header check');
  }
  if (flag & 0x20) refuse('a preset dictionary is needed');
  return 2;
}
