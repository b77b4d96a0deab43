import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeContentEncoding,
  InflatedBodyTooLargeError,
  isAcceptedEncoding,
  UnsupportedContentEncodingError,
} from '../../functions/inference/content-encoding';
import { InvalidInferenceRequestError } from '../../functions/inference/protocol';

const BODY = Buffer.from('{"inputs": [{"name": "INPUT0", "shape": [1], "datatype": "INT32", "data": [1]}]}');
const LIMIT = 1024;

describe('request Content-Encoding, as Triton reads it (src/http_server.cc, src/data_compressor.h)', () => {
  it.each([
    ['gzip', gzipSync(BODY)],
    // tritonclient's deflate is zlib.compress: a zlib-wrapped stream.
    ['deflate', deflateSync(BODY)],
    // Triton detects the wrapper whatever the header says (inflateInit2 with 15|32).
    ['deflate', gzipSync(BODY)],
    ['gzip', deflateSync(BODY)],
  ])('inflates %s (%#)', async (encoding, sent) => {
    expect(Buffer.from(await decodeContentEncoding(sent, encoding, LIMIT))).toEqual(BODY);
  });

  it.each([undefined, '', 'identity'])('passes the body on as it is for %j', async (encoding) => {
    expect(await decodeContentEncoding(BODY, encoding, LIMIT)).toBe(BODY);
  });

  it.each(['br', 'GZIP', 'gzip, identity', 'x-gzip'])('refuses %j, compared exactly', async (encoding) => {
    expect(isAcceptedEncoding(encoding)).toBe(false);
    const refusal = decodeContentEncoding(gzipSync(BODY), encoding, LIMIT);
    await expect(refusal).rejects.toBeInstanceOf(UnsupportedContentEncodingError);
    await expect(refusal).rejects.toThrow('Unsupported compression type');
  });

  it.each([
    ['a truncated gzip stream', 'gzip', gzipSync(BODY).subarray(0, 20)],
    ['bytes that are not compressed', 'gzip', BODY],
    // Triton's inflateInit2(15|32) takes gzip or zlib streams only.
    ['raw deflate', 'deflate', deflateRawSync(BODY)],
  ])('refuses %s as a bad request', async (_case, encoding, sent) => {
    const refusal = decodeContentEncoding(sent, encoding, LIMIT);
    await expect(refusal).rejects.toBeInstanceOf(InvalidInferenceRequestError);
    await expect(refusal).rejects.toThrow(`the ${encoding} request body does not inflate`);
  });

  // What Triton's DecompressData loop (src/data_compressor.h), run with zlib 1.2.13 on the same
  // bytes, passes on: the first stream, whatever follows it, its trailer unchecked.
  const withCrcFlipped = (stream: Buffer) => {
    const flipped = Buffer.from(stream);
    flipped[flipped.length - 8]! ^= 1;
    return flipped;
  };
  it.each([
    [
      'a gzip stream followed by other bytes',
      'gzip',
      Buffer.concat([gzipSync(BODY), Buffer.from(' garbage')]),
      BODY,
    ],
    [
      'a zlib stream followed by other bytes',
      'deflate',
      Buffer.concat([deflateSync(BODY), Buffer.from('xx')]),
      BODY,
    ],
    ['a gzip stream without its trailer', 'gzip', gzipSync(BODY).subarray(0, -8), BODY],
    ['a gzip stream whose CRC is wrong', 'gzip', withCrcFlipped(gzipSync(BODY)), BODY],
    [
      'two gzip members, of which Triton reads the first',
      'gzip',
      Buffer.concat([gzipSync(BODY.subarray(0, 10)), gzipSync(BODY.subarray(10))]),
      BODY.subarray(0, 10),
    ],
  ])('inflates %s as Triton does', async (_case, encoding, sent, inflated) => {
    expect(Buffer.from(await decodeContentEncoding(sent, encoding, LIMIT))).toEqual(Buffer.from(inflated));
  });

  it("refuses an empty compressed body with Triton's text", async () => {
    await expect(decodeContentEncoding(Buffer.alloc(0), 'gzip', LIMIT)).rejects.toThrow(
      new InvalidInferenceRequestError('nothing to be decompressed'),
    );
  });

  it('takes a body that inflates to the limit exactly', async () => {
    const body = Buffer.alloc(LIMIT, 'a');
    expect(Buffer.from(await decodeContentEncoding(gzipSync(body), 'gzip', LIMIT))).toEqual(body);
  });

  it('stops inflating a bomb at the limit', async () => {
    // Prepare: 32 MiB of zeros gzips to about 32 KB.
    const bomb = gzipSync(Buffer.alloc(32 * 1024 * 1024));
    const before = process.memoryUsage().arrayBuffers;
    // Act
    const refusal = decodeContentEncoding(bomb, 'gzip', LIMIT).catch((error: unknown) => error);
    // Assess
    const error = await refusal;
    expect(error).toBeInstanceOf(InflatedBodyTooLargeError);
    expect((error as InflatedBodyTooLargeError).limit).toBe(LIMIT);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
  });
});
