/**
 * The request Triton's Python HTTP client sends from its default `infer()`, byte for byte, through the
 * local API, and its answer read the way the client reads it. Built from the client's source
 * (github.com/triton-inference-server/client, commit 58a44caa):
 *
 * - `src/python/library/tritonclient/http/_client.py`, `InferenceServerClient.infer`: POST to
 *   `v2/models/{name}/infer`; headers are only what the caller passes plus
 *   `Inference-Header-Content-Length` when any input carries binary data; no Content-Type, no Accept;
 *   `Content-Encoding`/`Accept-Encoding` only when a compression algorithm is asked for (default None):
 *   `request_compression_algorithm='gzip'` sends `gzip.compress(body)` with `Content-Encoding: gzip`,
 *   `'deflate'` sends `zlib.compress(body)` (a zlib stream) with `Content-Encoding: deflate`; either way
 *   `Inference-Header-Content-Length` is the uncompressed JSON header's length.
 * - `_utils.py`, `_get_inference_request`: the header is `json.dumps` of `{"inputs", "outputs"}` (or,
 *   with no outputs requested, `"parameters": {"binary_data_output": true}`), Python's default
 *   separators (`", "`, `": "`); the header length is its length; the raw tensors follow in input order.
 * - `_infer_input.py`: `set_data_from_numpy(binary_data=True)` (the default) sets
 *   `parameters.binary_data_size` and sends `ndarray.tobytes()` (little-endian on x86); with
 *   `binary_data=False` the tensor has `data` (the flattened values) and no `parameters`.
 * - `_requested_output.py`: `InferRequestedOutput(name)` has `parameters.binary_data: true` by default;
 *   `binary_data=False` sets it false.
 * - `_infer_result.py`, `InferResult`: reads `Inference-Header-Content-Length` from the response; with
 *   it, the first that many bytes are the JSON header and each output with
 *   `parameters.binary_data_size` takes the next that many bytes, in output order; without it, the
 *   whole body is JSON.
 * - The transport, geventhttpclient (`src/geventhttpclient/client.py`, `HTTPClient.DEFAULT_HEADERS`
 *   and `_build_request`): `User-Agent: python/gevent-http-client-<version>` first, then the
 *   caller's headers, then `Host` and `Content-Length`.
 */
import { connect } from 'node:net';
import { deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

const INPUT0 = Array.from({ length: 16 }, (_, i) => i);
const INPUT1 = Array.from({ length: 16 }, () => 1);

/** `np.array(values, dtype=np.int32).tobytes()`. */
function int32Bytes(values: readonly number[]): Buffer {
  const bytes = Buffer.alloc(values.length * 4);
  for (const [i, value] of values.entries()) bytes.writeInt32LE(value, i * 4);
  return bytes;
}

const INPUTS =
  '[{"name": "INPUT0", "shape": [1, 16], "datatype": "INT32", "parameters": {"binary_data_size": 64}}, ' +
  '{"name": "INPUT1", "shape": [1, 16], "datatype": "INT32", "parameters": {"binary_data_size": 64}}]';

/** `json.dumps` of what `_get_inference_request` builds, as the client sends it. */
const HEADERS = {
  'with InferRequestedOutput(name) for both outputs': `{"inputs": ${INPUTS}, "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": true}}, {"name": "OUTPUT1", "parameters": {"binary_data": true}}]}`,
  'with no outputs requested': `{"inputs": ${INPUTS}, "parameters": {"binary_data_output": true}}`,
};

/** `json.dumps` of a request whose tensors are JSON (`binary_data=False` for inputs and outputs). */
const JSON_REQUEST = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: INPUT0 },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: INPUT1 },
  ],
  outputs: ['OUTPUT0', 'OUTPUT1'].map((name) => ({ name, parameters: { binary_data: false } })),
})
  .replaceAll(',', ', ')
  .replaceAll(':', ': ');

interface RawResponse {
  readonly status: number;
  readonly headers: Map<string, string>;
  readonly body: Buffer;
}

/**
 * What geventhttpclient sends for `infer()`: the request line, `User-Agent`, the caller's headers in
 * order, `Host` and `Content-Length`, then the body.
 */
function clientRequest(url: string, path: string, headers: readonly string[], body: Buffer): Buffer {
  const { host, pathname } = new URL(url);
  return Buffer.concat([
    Buffer.from(
      `POST ${pathname.replace(/\/$/, '')}${path} HTTP/1.1\r\n` +
        'User-Agent: python/gevent-http-client-2.3.1\r\n' +
        headers.map((header) => `${header}\r\n`).join('') +
        `Host: ${host}\r\n` +
        `Content-Length: ${body.length}\r\n` +
        '\r\n',
      'latin1',
    ),
    body,
  ]);
}

/** Sends `request` as is on one connection and reads one HTTP/1.1 answer (Content-Length or chunked). */
function exchange(url: string, request: Buffer): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(request));
    let received = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...lines] = received.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map(
        lines.map((line) => [
          line.slice(0, line.indexOf(':')).toLowerCase(),
          line.slice(line.indexOf(':') + 1).trim(),
        ]),
      );
      const rest = received.subarray(end + 4);
      const body = headers.get('transfer-encoding') === 'chunked' ? dechunk(rest) : contentOf(rest, headers);
      if (body === undefined) return;
      socket.end();
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body });
    });
    socket.on('error', reject);
  });
}

function contentOf(rest: Buffer, headers: Map<string, string>): Buffer | undefined {
  const length = Number(headers.get('content-length') ?? 0);
  return rest.length < length ? undefined : rest.subarray(0, length);
}

/** A chunked body once its last chunk has arrived, else undefined. */
function dechunk(rest: Buffer): Buffer | undefined {
  const chunks: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n', offset);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(rest.subarray(offset, lineEnd).toString('latin1'), 16);
    if (size === 0) return Buffer.concat(chunks);
    if (rest.length < lineEnd + 2 + size + 2) return undefined;
    chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}

/** What `InferResult` makes of an answer: its JSON header and each binary output's bytes by name. */
function readAsInferResult(response: RawResponse) {
  const headerLength = response.headers.get('inference-header-content-length');
  if (headerLength === undefined)
    return { result: JSON.parse(response.body.toString('utf8')), buffers: new Map() };
  const length = Number.parseInt(headerLength, 10);
  const result = JSON.parse(response.body.subarray(0, length).toString('utf8'));
  const buffers = new Map<string, Buffer>();
  let offset = length;
  for (const output of result.outputs as { name: string; parameters?: { binary_data_size?: number } }[]) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    buffers.set(output.name, response.body.subarray(offset, offset + size));
    offset += size;
  }
  return { result, buffers };
}

/** `InferResult.as_numpy(name)` for an INT32 output. */
function asInt32(buffer: Buffer | undefined): number[] {
  expect(buffer).toBeDefined();
  return Array.from({ length: buffer!.length / 4 }, (_, i) => buffer!.readInt32LE(i * 4));
}

let platform: PlatformProcess;
let token: string;

beforeAll(async () => {
  platform = await startPlatformProcess();
  token = await platformToken();
});

afterAll(async () => {
  await platform?.stop();
});

describe("Triton's Python HTTP client, default infer() with binary tensors, through the local API", () => {
  it.each(Object.entries(HEADERS))('answers %s in binary, as the client reads it', async (_case, header) => {
    // Prepare: infer(model_name='simple', inputs, outputs, headers={'Authorization': ...})
    const body = Buffer.concat([Buffer.from(header, 'utf8'), int32Bytes(INPUT0), int32Bytes(INPUT1)]);
    const request = clientRequest(
      platform.apiUrl,
      '/v2/models/simple/infer',
      [`Authorization: Bearer ${token}`, `Inference-Header-Content-Length: ${header.length}`],
      body,
    );
    // Act
    const response = await exchange(platform.apiUrl, request);
    // Assess
    expect(response.status, response.body.toString('utf8')).toBe(200);
    expect(response.headers.get('inference-header-content-length')).toMatch(/^\d+$/);
    const { result, buffers } = readAsInferResult(response);
    expect(result.model_name).toBe('simple');
    expect(asInt32(buffers.get('OUTPUT0'))).toEqual(INPUT0.map((x, i) => x + INPUT1[i]!));
    expect(asInt32(buffers.get('OUTPUT1'))).toEqual(INPUT0.map((x, i) => x - INPUT1[i]!));
  });

  it("answers Triton's raw binary request (header length 0, the body only the one input's tensor) in binary", async () => {
    // Prepare: the request of Triton's docs/protocol/extension_binary_data.md, "Raw Binary Request",
    // to the one-input iris model: one row of four FP32 features.
    const { host, pathname } = new URL(platform.apiUrl);
    const body = Buffer.alloc(16);
    for (const [i, value] of [5.1, 3.5, 1.4, 0.2].entries()) body.writeFloatLE(value, i * 4);
    const request = Buffer.concat([
      Buffer.from(
        `POST ${pathname.replace(/\/$/, '')}/v2/models/iris/infer HTTP/1.1\r\n` +
          `Host: ${host}\r\n` +
          `Authorization: Bearer ${token}\r\n` +
          'Content-Type: application/octet-stream\r\n' +
          'Inference-Header-Content-Length: 0\r\n' +
          `Content-Length: ${body.length}\r\n` +
          '\r\n',
        'latin1',
      ),
      body,
    ]);
    // Act
    const response = await exchange(platform.apiUrl, request);
    // Assess: a batch of one, every output in binary.
    expect(response.status, response.body.toString('utf8')).toBe(200);
    const { result, buffers } = readAsInferResult(response);
    expect(result.model_name).toBe('iris');
    expect(result.outputs.find((o: { name: string }) => o.name === 'LABEL')).toMatchObject({
      datatype: 'INT64',
      shape: [1, 1],
    });
    expect(buffers.get('LABEL')?.length).toBe(8);
    const probabilities = buffers.get('PROBABILITIES')!;
    const values = [0, 1, 2].map((i) => probabilities.readFloatLE(i * 4));
    expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(Number(buffers.get('LABEL')!.readBigInt64LE(0))).toBe(values.indexOf(Math.max(...values)));
  });
});

describe("Triton's Python HTTP client, infer(request_compression_algorithm=...)", () => {
  // Python's gzip.compress and zlib.compress write the same formats as Node's gzipSync and deflateSync.
  const compressions = { gzip: gzipSync, deflate: deflateSync };
  const binaryHeader = HEADERS['with InferRequestedOutput(name) for both outputs'];
  const cases = (['api', 'model server'] as const).flatMap((target) =>
    (['gzip', 'deflate'] as const).flatMap((encoding) =>
      (['binary', 'JSON'] as const).map((tensors) => ({ target, encoding, tensors })),
    ),
  );

  it.each(cases)(
    '$target inflates a $encoding request with $tensors tensors',
    async ({ target, encoding, tensors }) => {
      // Prepare: headers={'Authorization': ...} for the API; the client adds Content-Encoding, then
      // Inference-Header-Content-Length for binary tensors, counting the uncompressed header.
      const url = target === 'api' ? platform.apiUrl : platform.modelServerUrl;
      const uncompressed =
        tensors === 'binary'
          ? Buffer.concat([Buffer.from(binaryHeader), int32Bytes(INPUT0), int32Bytes(INPUT1)])
          : Buffer.from(JSON_REQUEST);
      const headers = [
        ...(target === 'api' ? [`Authorization: Bearer ${token}`] : []),
        `Content-Encoding: ${encoding}`,
        ...(tensors === 'binary' ? [`Inference-Header-Content-Length: ${binaryHeader.length}`] : []),
      ];
      const body = compressions[encoding](uncompressed);
      // Act
      const response = await exchange(url, clientRequest(url, '/v2/models/simple/infer', headers, body));
      // Assess
      expect(response.status, response.body.toString('utf8')).toBe(200);
      const { result, buffers } = readAsInferResult(response);
      const output = (name: string) =>
        tensors === 'binary'
          ? asInt32(buffers.get(name))
          : result.outputs.find((o: { name: string }) => o.name === name).data;
      expect(output('OUTPUT0')).toEqual(INPUT0.map((x, i) => x + INPUT1[i]!));
      expect(output('OUTPUT1')).toEqual(INPUT0.map((x, i) => x - INPUT1[i]!));
    },
  );
});
