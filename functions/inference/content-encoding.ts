/**
 * Compressed request bodies, as Triton's HTTP and SageMaker servers read them (server:
 * `src/http_server.cc` GetRequestCompressionType and DecompressBuffer, `src/sagemaker_server.cc`,
 * `src/data_compressor.h` DecompressData). Triton's Python client sends them from
 * `infer(..., request_compression_algorithm='gzip' | 'deflate')`: `gzip.compress` or `zlib.compress`
 * of the body, with `Content-Encoding` and an `Inference-Header-Content-Length` that counts the
 * uncompressed JSON header. Shared by the inference function and the local model server.
 */
import { promisify } from 'node:util';
import { unzip } from 'node:zlib';
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

const inflate = promisify(unzip);

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
 * under either name and raw deflate under neither; Node's `unzip` detects the same two. An empty
 * body is refused with Triton's text; a stream that does not inflate to its end is a 400 (Triton
 * passes on what it inflated, which then fails to parse).
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
    return await inflate(body, { maxOutputLength: maxBytes });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new InflatedBodyTooLargeError(maxBytes);
    throw new InvalidInferenceRequestError(
      `the ${contentEncoding} request body does not inflate: ${message}`,
    );
  }
}
