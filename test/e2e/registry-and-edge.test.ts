import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const ones = Array.from({ length: 16 }, () => 1);
const INFER_BODY = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ones },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ones },
  ],
});
const registration = (version: string, overrides: Record<string, unknown> = {}) => ({
  name: 'adder',
  version,
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: 'local-triton', targetModel: 'simple.tar.gz' }],
  description: `adder v${version}`,
  ...overrides,
});

/**
 * Each function container caches registry reads for REGISTRY_CACHE_TTL_MS, so the inference
 * containers see a registry write within that bound, as in AWS. Shortened here to keep waits short.
 */
const REGISTRY_CACHE_TTL_MS = 1_000;
const registryWriteSeen = () => new Promise((resolve) => setTimeout(resolve, REGISTRY_CACHE_TTL_MS + 200));

describe('registry API and edge (npm start)', () => {
  let platform: PlatformProcess;
  let admin: string;
  let reader: string;

  const call = async (path: string, init: RequestInit & { token?: string | null; json?: unknown } = {}) => {
    const { token = admin, json, ...rest } = init;
    const response = await fetch(`${platform.apiUrl}${path}`, {
      ...rest,
      body: json === undefined ? rest.body : JSON.stringify(json),
      headers: {
        'Content-Type': 'application/json',
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(rest.headers as Record<string, string>),
      },
    });
    const text = await response.text();
    return { response, status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    platform = await startPlatformProcess({ REGISTRY_CACHE_TTL_MS: String(REGISTRY_CACHE_TTL_MS) });
    [admin, reader] = await Promise.all([
      platformToken({ sub: 'platform-team', scope: 'models:read models:write inference:invoke' }),
      platformToken({ sub: 'viewer', scope: 'models:read' }),
    ]);
  });

  afterAll(async () => {
    await platform?.stop();
  });

  describe('model versions', () => {
    it('registers a version with 201 and a Location, and refuses it again with 409', async () => {
      const created = await call('/v1/models', { method: 'POST', json: registration('1') });
      expect(created.status).toBe(201);
      expect(created.response.headers.get('location')).toBe('/v1/models/adder/versions/1');
      expect(created.body).toMatchObject({
        name: 'adder',
        version: '1',
        status: 'ACTIVE',
        createdAt: expect.any(String),
      });

      const again = await call('/v1/models', { method: 'POST', json: registration('1') });
      expect(again.status).toBe(409);
      expect(again.body).toEqual({
        error: expect.stringContaining('already exists'),
        code: 'CONFLICT',
        requestId: expect.any(String),
      });
      expect((await call('/v1/models', { method: 'POST', json: registration('2') })).status).toBe(201);
    });

    it.each([
      ['a name with a slash', { name: 'a/b' }, 'name'],
      ['a version that is not a number', { version: 'latest' }, 'version'],
      [
        'an unknown datatype',
        { inputs: [{ name: 'X', datatype: 'FLOAT', shape: [-1, 2] }] },
        'inputs.0.datatype',
      ],
      [
        'a batched shape without the batch dimension',
        { inputs: [{ name: 'X', datatype: 'INT32', shape: [16] }] },
        'inputs.0.shape',
      ],
      ['no backends', { backends: [] }, 'backends'],
      ['an unknown field', { owner: 'me' }, '(root)'],
    ])('answers 400 naming the field for %s', async (_case, overrides, field) => {
      const result = await call('/v1/models', { method: 'POST', json: registration('7', overrides) });
      expect(result.status).toBe(400);
      expect(result.body.code).toBe('BAD_REQUEST');
      expect(result.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    });

    it('answers 400 for a body that is not JSON', async () => {
      const result = await call('/v1/models', { method: 'POST', body: '{"name":' });
      expect(result.status).toBe(400);
    });

    it('reads a version, updates it partially and answers 404 for one that does not exist', async () => {
      expect((await call('/v1/models/adder/versions/1')).body).toMatchObject({
        version: '1',
        description: 'adder v1',
      });
      const patched = await call('/v1/models/adder/versions/1', {
        method: 'PATCH',
        json: { description: 'patched', labels: { team: 'ml' } },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({
        description: 'patched',
        labels: { team: 'ml' },
        inputs: SIMPLE_SIGNATURE.inputs,
      });
      expect(
        (await call('/v1/models/adder/versions/1', { method: 'PATCH', json: { inputs: [] } })).status,
      ).toBe(400);
      expect(
        (await call('/v1/models/adder/versions/9', { method: 'PATCH', json: { description: 'x' } })).status,
      ).toBe(404);
      expect((await call('/v1/models/adder/versions/9')).status).toBe(404);
      expect((await call('/v1/models/adder/versions/abc')).status).toBe(400);
    });

    it('lists models a page at a time', async () => {
      const first = await call('/v1/models?limit=1');
      expect(first.status).toBe(200);
      expect(first.body.models).toHaveLength(1);
      expect(first.body.nextToken).toEqual(expect.any(String));
      const second = await call(`/v1/models?limit=1&nextToken=${encodeURIComponent(first.body.nextToken)}`);
      expect(second.body.models[0].name).not.toBe(first.body.models[0].name);
      expect((await call('/v1/models?limit=0')).status).toBe(400);
      expect((await call('/v1/models?nextToken=forged')).status).toBe(400);
    });

    it('serves v2 metadata and readiness from the registry', async () => {
      const metadata = await call('/v2/models/adder');
      expect(metadata.status).toBe(200);
      expect(metadata.body).toMatchObject({
        name: 'adder',
        versions: ['1', '2'],
        platform: 'onnxruntime_onnx',
      });
      expect((await call('/v2/models/adder/versions/2/ready')).body).toMatchObject({ ready: true });
      expect((await call('/v2/models/adder/versions/5/ready')).status).toBe(404);
    });
  });

  describe('aliases', () => {
    it('rejects routes whose weights do not sum to 100 or that name a missing version', async () => {
      const badSum = await call('/v1/models/adder/aliases/prod', {
        method: 'PUT',
        json: { routes: [{ version: '1', weight: 50 }] },
      });
      expect(badSum.status).toBe(400);
      expect(badSum.body.error).toContain('sum to 100');
      const missing = await call('/v1/models/adder/aliases/prod', {
        method: 'PUT',
        json: { routes: [{ version: '8', weight: 100 }] },
      });
      expect(missing.status).toBe(400);
      const zero = await call('/v1/models/adder/aliases/prod', {
        method: 'PUT',
        json: {
          routes: [
            { version: '1', weight: 0 },
            { version: '2', weight: 100 },
          ],
        },
      });
      expect(zero.status).toBe(400);
    });

    it('routes inference through a weighted alias, the same request id the same way', async () => {
      // Prepare
      const put = await call('/v1/models/adder/aliases/canary', {
        method: 'PUT',
        json: {
          routes: [
            { version: '1', weight: 50 },
            { version: '2', weight: 50 },
          ],
        },
      });
      expect(put.status).toBe(200);
      await registryWriteSeen();
      // Act
      const infer = (requestId: string) =>
        call('/v2/models/adder/versions/canary/infer', {
          method: 'POST',
          body: INFER_BODY,
          headers: { 'X-Request-Id': requestId },
        });
      const spread = await Promise.all(Array.from({ length: 30 }, (_, i) => infer(`spread-${i}`)));
      const repeated = await Promise.all([1, 2, 3, 4].map(() => infer('sticky-request')));
      // Assess
      // A refusal shows its status and error, so that a failure tells a refused request from a
      // request routed another way (an error carries no X-Model-Version).
      const refused = [...spread, ...repeated].filter((r) => r.status !== 200);
      expect(refused.map((r) => ({ status: r.status, body: r.body }))).toEqual([]);
      expect(new Set(spread.map((r) => r.response.headers.get('x-model-version')))).toEqual(
        new Set(['1', '2']),
      );
      expect(repeated.map((r) => r.response.headers.get('x-model-version'))).toEqual(
        Array(4).fill(repeated[0]!.response.headers.get('x-model-version')),
      );
      expect(repeated[0]!.response.headers.get('x-request-id')).toBe('sticky-request');
      expect(repeated[0]!.body.outputs[0].data).toEqual(ones.map(() => 2));
    });

    it('refuses to delete or disable a version an alias routes to, then deletes alias and version', async () => {
      expect((await call('/v1/models/adder/versions/1', { method: 'DELETE' })).status).toBe(409);
      expect(
        (await call('/v1/models/adder/versions/1', { method: 'PATCH', json: { status: 'DISABLED' } })).status,
      ).toBe(409);
      expect((await call('/v1/models/adder/aliases/canary', { method: 'DELETE' })).status).toBe(204);
      expect((await call('/v1/models/adder/aliases/canary', { method: 'DELETE' })).status).toBe(404);
      expect((await call('/v1/models/adder/versions/2', { method: 'DELETE' })).status).toBe(204);
      const model = await call('/v1/models/adder');
      expect(model.body.versions.map((v: { version: string }) => v.version)).toEqual(['1']);
      expect(model.body.aliases).toEqual([]);
      await registryWriteSeen();
      expect((await call('/v2/models/adder')).body.versions).toEqual(['1']);
    });
  });

  describe('edge', () => {
    it.each([
      ['POST', '/v1/models'],
      ['PATCH', '/v1/models/adder/versions/1'],
      ['DELETE', '/v1/models/adder/versions/1'],
      ['PUT', '/v1/models/adder/aliases/prod'],
      ['DELETE', '/v1/models/adder/aliases/prod'],
      ['POST', '/v2/models/simple/infer'],
    ])('answers 403 JSON to a read-only token on %s %s', async (method, path) => {
      const result = await call(path, { method, token: reader, json: {} });
      expect(result.status).toBe(403);
      expect(result.body.code).toBe('FORBIDDEN');
    });

    it.each([
      ['GET', '/v1/models'],
      ['GET', '/v1/models/adder'],
      ['GET', '/v2/models/simple'],
    ])('answers 401 JSON with CORS headers and no token on %s %s', async (method, path) => {
      const result = await call(path, {
        method,
        token: null,
        headers: { Origin: 'https://app.example.com' },
      });
      expect(result.status).toBe(401);
      expect(result.response.headers.get('access-control-allow-origin')).toBe('*');
    });

    it('answers a CORS preflight without a token', async () => {
      const response = await fetch(`${platform.apiUrl}/v1/models`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST' },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-headers')).toContain('Authorization');
    });

    it('puts request id, CORS and rate-limit headers on every authenticated response, errors included', async () => {
      for (const path of ['/v1/models', '/v1/models/missing', '/v2/models/missing']) {
        const { response } = await call(path, { headers: { Origin: 'https://app.example.com' } });
        expect(response.headers.get('x-request-id')).toBeTruthy();
        expect(response.headers.get('access-control-allow-origin')).toBe('*');
        expect(response.headers.get('access-control-expose-headers')).toContain('X-RateLimit-Remaining');
        expect(response.headers.get('x-ratelimit-limit')).toBe('600');
        expect(Number(response.headers.get('x-ratelimit-remaining'))).toBeLessThan(600);
        expect(Number(response.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
      }
    });

    it("admits no more than a tier's limit per window under a parallel burst, and spares other principals", async () => {
      // Prepare: the trial tier allows 60 requests a minute
      const trial = await platformToken({ sub: 'burst-client', tier: 'trial', scope: 'models:read' });
      const bystander = await platformToken({ sub: 'bystander', tier: 'trial', scope: 'models:read' });
      // Act: three times the limit at once
      const results = await Promise.all(
        Array.from({ length: 180 }, () => call('/v2/models/simple', { token: trial })),
      );
      // Assess: per window (a burst may straddle two), at most the limit got through
      const admittedPerWindow = new Map<string, number>();
      for (const { status, response } of results) {
        expect([200, 429]).toContain(status);
        const window = response.headers.get('x-ratelimit-reset')!;
        if (status === 200) admittedPerWindow.set(window, (admittedPerWindow.get(window) ?? 0) + 1);
      }
      for (const admitted of admittedPerWindow.values()) expect(admitted).toBeLessThanOrEqual(60);
      const limited = results.find((r) => r.status === 429)!;
      expect(limited.body).toEqual({ error: expect.stringContaining('rate limit') });
      expect(Number(limited.response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.response.headers.get('x-ratelimit-remaining')).toBe('0');
      const other = await call('/v2/models/simple', { token: bystander });
      expect(other.status).toBe(200);
      expect(other.response.headers.get('x-ratelimit-remaining')).toBe('59');
    });
  });
});
