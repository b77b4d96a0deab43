import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTritonJson } from '../../functions/inference/triton-json';
import { npmToken, type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

const INPUT0 = Array.from({ length: 16 }, (_, i) => i);
const INPUT1 = Array.from({ length: 16 }, (_, i) => 2 * i + 1);
const inferBody = (shape = [1, 16], data0: unknown[] = INPUT0, data1: unknown[] = INPUT1) => ({
  inputs: [
    { name: 'INPUT0', shape, datatype: 'INT32', data: data0 },
    { name: 'INPUT1', shape, datatype: 'INT32', data: data1 },
  ],
});

describe('local platform (npm start)', () => {
  let platform: PlatformProcess;
  let token: string;

  const call = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const { token: bearer = token, ...rest } = init;
    return fetch(`${platform.apiUrl}${path}`, {
      ...rest,
      headers: {
        'Content-Type': 'application/json',
        ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
        ...(rest.headers as Record<string, string>),
      },
    });
  };
  const infer = (body: unknown, options: { token?: string | null; model?: string } = {}) =>
    call(`/v2/models/${options.model ?? 'simple'}/infer`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      token: options.token,
    });

  beforeAll(async () => {
    platform = await startPlatformProcess();
    token = await npmToken();
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it('answers GET /health without a token', async () => {
    const response = await call('/health', { token: null });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', version: expect.any(String) });
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });

  it('serves the OpenAPI document without a token', async () => {
    const response = await call('/openapi.json', { token: null });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(document.paths).toHaveProperty(['/v2/models/{model}/infer']);
  });

  it('returns OUTPUT0 = INPUT0 + INPUT1 and OUTPUT1 = INPUT0 - INPUT1 for a 1x16 request', async () => {
    // Act
    const response = await infer(inferBody());
    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('x-model-version')).toBe('1');
    const body = (await response.json()) as {
      model_name: string;
      outputs: { name: string; shape: number[]; data: number[] }[];
    };
    expect(body.model_name).toBe('simple');
    const output = (name: string) => body.outputs.find((o) => o.name === name);
    expect(output('OUTPUT0')).toMatchObject({
      datatype: 'INT32',
      shape: [1, 16],
      data: INPUT0.map((x, i) => x + INPUT1[i]!),
    });
    expect(output('OUTPUT1')).toMatchObject({
      datatype: 'INT32',
      shape: [1, 16],
      data: INPUT0.map((x, i) => x - INPUT1[i]!),
    });
  });

  // Triton reads and writes JSON with the tokens (TritonJson's kParseNanAndInfFlag and
  // kWriteNanAndInfFlag), and Triton's Python client writes them for a NaN in a JSON tensor.
  it('takes NaN and the infinities in a JSON request and answers them as Triton writes them', async () => {
    // Act: through the API, the local SageMaker and the model server.
    const response = await infer(
      '{"inputs":[{"name":"FEATURES","shape":[1,4],"datatype":"FP32","data":[NaN,3.5,-Infinity,Infinity]}]}',
      { model: 'iris' },
    );
    // Assess: a model fed NaN answers NaN, written as the bare token.
    const text = await response.text();
    expect(response.status, text).toBe(200);
    const body = parseTritonJson(text) as { outputs: { name: string; data: number[] }[] };
    const probabilities = body.outputs.find((o) => o.name === 'PROBABILITIES')!.data;
    expect(probabilities.some(Number.isNaN), text).toBe(true);
    expect(text).toMatch(/[[,]NaN[,\]]/);
  });

  it('echoes the client X-Request-Id', async () => {
    const response = await call('/v2/models/simple', { headers: { 'X-Request-Id': 'trace-123' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('trace-123');
  });

  it('answers 401 JSON without a token', async () => {
    const response = await infer(inferBody(), { token: null });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(await response.json()).toMatchObject({ error: expect.any(String), code: 'UNAUTHORIZED' });
  });

  it('answers 401 JSON for an expired token', async () => {
    const expired = await npmToken('--expires-in=-600');
    const response = await infer(inferBody(), { token: expired });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: expect.any(String), code: 'UNAUTHORIZED' });
  });

  it('answers 403 JSON for a token without the inference scope', async () => {
    const readOnly = await npmToken('--sub', 'reader', '--scope', 'models:read');
    const response = await infer(inferBody(), { token: readOnly });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: expect.any(String), code: 'FORBIDDEN' });
  });

  it('answers 404 JSON for an unknown model', async () => {
    const response = await infer(inferBody(), { model: 'no-such-model' });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: expect.stringContaining('no-such-model') });
  });

  it('answers 400 JSON for a wrong input shape', async () => {
    const response = await infer(inferBody([1, 8], INPUT0.slice(0, 8), INPUT1.slice(0, 8)));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: expect.stringContaining('INPUT0') });
  });

  // The error quotes the name; escaped in the answer and again in Lambda's result, 1.7 M quotes in
  // a 3.4 MB body would pass the 6 MB a function may return and reach the client as a 502.
  it('answers 400 JSON for a request whose refused field is 1.7 million quotes', async () => {
    const response = await infer({ ...inferBody(), outputs: [{ name: '"'.repeat(1_700_000) }] });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: expect.stringContaining('more characters)') });
  });

  it('answers 400 JSON for a body that is not JSON', async () => {
    const response = await infer('{"inputs": [');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: expect.stringContaining('JSON') });
  });

  it('answers 404 JSON for an unknown route', async () => {
    const response = await call('/v3/nothing');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: expect.any(String), code: 'NOT_FOUND' });
  });

  it('stops cleanly on Ctrl-C and frees its ports', async () => {
    // Act
    await platform.stop();
    // Assess
    expect(platform.output()).toContain('SIGINT received, stopping');
    expect(platform.output()).toContain('Local platform stopped.');
    await expect(fetch(`${platform.apiUrl}/health`)).rejects.toThrow();
    await expect(fetch(`${platform.modelServerUrl}/v2/health/live`)).rejects.toThrow();
  });
});
