import { createHmac, randomUUID } from 'node:crypto';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, SCOPES } from '../../contracts/routes';
import { BatchStore } from '../../functions/batch/batch-store';
import { jobIdFor } from '../../functions/batch/submission';
import { devSigningSecret } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

/**
 * The authorizer reads JWT_ISSUER and JWT_AUDIENCE from its environment as in AWS; `npm start` hands
 * its own on when cdk.json sets none, so the iss and aud checks are on.
 */
const ISSUER = 'https://issuer.security-e2e.local/';
const AUDIENCE = 'inference-api-security-e2e';
const STANDARD_SCOPES = 'models:read inference:invoke batch:submit batch:read';
const now = () => Math.floor(Date.now() / 1000);

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const hmac = (key: string | Buffer, input: string, hash: 'sha256' | 'sha512' = 'sha256') =>
  createHmac(hash, key).update(input).digest('base64url');

/** Claims of a token the platform accepts; `undefined` drops a claim. */
const claims = (overrides: Record<string, unknown> = {}) =>
  Object.fromEntries(
    Object.entries({
      sub: 'mallory',
      scope: SCOPES.join(' '),
      tier: 'standard',
      iss: ISSUER,
      aud: AUDIENCE,
      iat: now(),
      exp: now() + 600,
      ...overrides,
    }).filter(([, value]) => value !== undefined),
  );

const INFER_BODY = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array(16).fill(1) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array(16).fill(1) },
  ],
});
const batchItems = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    id: `item-${i}`,
    inputs: JSON.parse(INFER_BODY).inputs as unknown[],
  }));

describe('security (npm start)', () => {
  let platform: PlatformProcess;
  let secret: string;

  /** A compact JWS signed with HMAC over exactly these header and payload values. */
  const signed = (
    payload: unknown,
    header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' },
    key: string | Buffer = secret,
  ) => {
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${hmac(key, input)}`;
  };
  const token = (overrides: Record<string, unknown> = {}) => signed(claims(overrides));

  const send = async (
    path: string,
    init: {
      method?: string;
      authorization?: string | string[];
      body?: string;
      headers?: Record<string, string>;
    } = {},
  ) => {
    const headers = new Headers(init.headers);
    headers.set('Content-Type', 'application/json');
    for (const value of [init.authorization ?? []].flat()) headers.append('Authorization', value);
    const response = await fetch(`${platform.apiUrl}${path}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.body,
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // left as text: the assertions say whether JSON was due
    }
    return {
      status: response.status,
      body: body as { error?: string; code?: string } & Record<string, unknown>,
    };
  };
  const bearer = (t: string) => `Bearer ${t}`;

  beforeAll(async () => {
    platform = await startPlatformProcess({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
    // The platform created it if it did not exist; this reads the same file.
    secret = devSigningSecret();
  });

  afterAll(async () => {
    await platform?.stop();
  });

  describe('JWT attacks', () => {
    type Attack = {
      /** The Authorization header value(s), or none. */
      authorization: () => Promise<string | string[] | undefined> | string | string[] | undefined;
      status: 200 | 401 | 403 | 431;
      method?: string;
      path?: string | (() => string);
      body?: string;
      /** Sent once first (answered 200, so API Gateway caches the decision), then again this many ms later. */
      reusedAfterMs?: number;
    };
    const GET_MODEL = '/v2/models/simple';
    const rsKey = generateKeyPair('RS256', { extractable: true });
    const rs256 = async (header: Record<string, unknown>, payload = claims()) =>
      new SignJWT(payload).setProtectedHeader({ alg: 'RS256', ...header }).sign((await rsKey).privateKey);
    const tampered = (overrides: Record<string, unknown>) => {
      const [header, , signature] = token({ scope: 'models:read', sub: 'reader' }).split('.');
      return bearer(`${header}.${b64(claims(overrides))}.${signature}`);
    };

    const attacks: Record<string, Attack> = {
      // control and the header forms HTTP allows (the auth scheme is case-insensitive, RFC 7235; 1*SP, RFC 6750)
      'a valid token (control)': { authorization: () => bearer(token()), status: 200 },
      'lower-case bearer': { authorization: () => `bearer ${token()}`, status: 200 },
      'upper-case BEARER': { authorization: () => `BEARER ${token()}`, status: 200 },
      'two spaces after Bearer': { authorization: () => `Bearer  ${token()}`, status: 200 },

      // missing or malformed
      'no Authorization header': { authorization: () => undefined, status: 401 },
      'an empty Authorization header': { authorization: () => '', status: 401 },
      'Bearer with no token': { authorization: () => 'Bearer ', status: 401 },
      'a token without the Bearer scheme': { authorization: () => token(), status: 401 },
      'Basic credentials': { authorization: () => `Basic ${b64('admin:admin')}`, status: 401 },
      'Bearer Bearer <token>': { authorization: () => `Bearer Bearer ${token()}`, status: 401 },
      'a tab after Bearer': { authorization: () => `Bearer\t${token()}`, status: 401 },
      'a token followed by junk': { authorization: () => `Bearer ${token()} junk`, status: 401 },
      'two Authorization headers': { authorization: () => [bearer(token()), bearer(token())], status: 401 },
      'not a JWT': { authorization: () => bearer('not-a-jwt'), status: 401 },
      'three segments of junk': { authorization: () => bearer('abc.def.ghi'), status: 401 },
      'a fourth segment': { authorization: () => bearer(`${token()}.extra`), status: 401 },
      'five segments (a JWE shape)': { authorization: () => bearer('a.b.c.d.e'), status: 401 },
      'a header that is not JSON': {
        authorization: () => {
          const input = `${b64('{alg')}.${b64(claims())}`;
          return bearer(`${input}.${hmac(secret, input)}`);
        },
        status: 401,
      },
      'a header that is a JSON array': {
        authorization: () => bearer(signed(claims(), [] as never)),
        status: 401,
      },
      'a payload that is a JSON array': { authorization: () => bearer(signed([claims()])), status: 401 },
      'a payload that is not JSON': { authorization: () => bearer(signed('sub=mallory')), status: 401 },

      // signature
      'a wrong signature (another secret)': {
        authorization: () => bearer(signed(claims(), undefined, 'another-secret-entirely-0123456789')),
        status: 401,
      },
      'the signature stripped': {
        authorization: () => bearer(`${token().split('.').slice(0, 2).join('.')}.`),
        status: 401,
      },
      'a tampered payload (wider scope) with the original signature': {
        authorization: () => tampered({ sub: 'reader', scope: SCOPES.join(' ') }),
        status: 401,
      },
      'a tampered payload (another sub) with the original signature': {
        authorization: () => tampered({ sub: 'alice', scope: 'models:read' }),
        status: 401,
      },
      'an unencoded payload (b64: false)': {
        authorization: () => {
          const header = b64({ alg: 'HS256', b64: false, crit: ['b64'] });
          const payload = JSON.stringify(claims());
          return bearer(`${header}.${payload}.${hmac(secret, `${header}.${payload}`)}`);
        },
        status: 401,
      },
      // one signed token, spelled another way: each spelling would be its own cache entry
      'the signature with = padding appended': { authorization: () => bearer(`${token()}=`), status: 401 },
      'the signature with its unused low bits changed': {
        authorization: () => {
          const [header, payload, signature] = token().split('.') as [string, string, string];
          const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
          const last = alphabet[alphabet.indexOf(signature.at(-1)!) ^ 1];
          return bearer(`${header}.${payload}.${signature.slice(0, -1)}${last}`);
        },
        status: 401,
      },
      'an unknown critical header': {
        authorization: () => bearer(signed(claims(), { alg: 'HS256', crit: ['exp-ext'], 'exp-ext': 1 })),
        status: 401,
      },

      // algorithms
      'alg none, unsigned': {
        authorization: () => bearer(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`),
        status: 401,
      },
      'alg None, unsigned': {
        authorization: () => bearer(`${b64({ alg: 'None' })}.${b64(claims())}.`),
        status: 401,
      },
      'alg none with a valid HMAC signature kept': {
        authorization: () => {
          const [, payload, signature] = token().split('.');
          return bearer(`${b64({ alg: 'none' })}.${payload}.${signature}`);
        },
        status: 401,
      },
      'RS256 signed with a key of our own (HS256 expected)': {
        authorization: async () => bearer(await rs256({})),
        status: 401,
      },
      'RS256 header over an HMAC signature with the secret': {
        authorization: () => bearer(signed(claims(), { alg: 'RS256', typ: 'JWT' })),
        status: 401,
      },
      'HS512 with the secret (not allow-listed)': {
        authorization: () => {
          const input = `${b64({ alg: 'HS512' })}.${b64(claims())}`;
          return bearer(`${input}.${hmac(secret, input, 'sha512')}`);
        },
        status: 401,
      },
      'an embedded jwk header (self-signed RS256)': {
        authorization: async () => bearer(await rs256({ jwk: await exportJWK((await rsKey).publicKey) })),
        status: 401,
      },
      'a jku header pointing elsewhere': {
        authorization: async () => bearer(await rs256({ jku: 'http://127.0.0.1:9/jwks.json', kid: 'evil' })),
        status: 401,
      },

      // kid tricks
      'an unknown kid': {
        authorization: () =>
          bearer(signed(claims(), { alg: 'HS256', kid: 'no-such-key' }, 'guessed-key-0123456789')),
        status: 401,
      },
      'a path-traversal kid signed with an empty key': {
        authorization: () => bearer(signed(claims(), { alg: 'HS256', kid: '../../../../dev/null' }, '')),
        status: 401,
      },
      'a kid naming the secret ARN, signed with the ARN': {
        authorization: () => {
          const kid =
            'arn:aws:secretsmanager:us-east-1:000000000000:secret:inference-platform/jwt-signing-key';
          return bearer(signed(claims(), { alg: 'HS256', kid }, kid));
        },
        status: 401,
      },
      'a SQL-injection kid signed with an empty key': {
        authorization: () => bearer(signed(claims(), { alg: 'HS256', kid: "x' UNION SELECT '' --" }, '')),
        status: 401,
      },
      'a kid that is an object': {
        authorization: () => bearer(signed(claims(), { alg: 'HS256', kid: { $ne: null } }, '')),
        status: 401,
      },

      // time, issuer, audience
      expired: { authorization: () => bearer(token({ exp: now() - 120 })), status: 401 },
      'not yet valid (nbf)': { authorization: () => bearer(token({ nbf: now() + 600 })), status: 401 },
      'issued in the future (iat) and expired': {
        authorization: () => bearer(token({ iat: now() + 3600, exp: now() - 60 })),
        status: 401,
      },
      'no exp': { authorization: () => bearer(token({ exp: undefined })), status: 401 },
      // accepted within the 30 s clock tolerance, then reused from the authorizer cache after it
      'an expired token reused within the authorizer cache TTL': {
        authorization: () => bearer(token({ exp: now() - 27 })),
        reusedAfterMs: 5_000,
        status: 401,
      },
      'a wrong issuer': {
        authorization: () => bearer(token({ iss: 'https://evil.example.com/' })),
        status: 401,
      },
      'no issuer': { authorization: () => bearer(token({ iss: undefined })), status: 401 },
      'a wrong audience': { authorization: () => bearer(token({ aud: 'another-api' })), status: 401 },
      'no audience': { authorization: () => bearer(token({ aud: undefined })), status: 401 },

      // subject and scopes
      'no sub': { authorization: () => bearer(token({ sub: undefined })), status: 401 },
      'an empty sub': { authorization: () => bearer(token({ sub: '' })), status: 401 },
      // two subjects differing only in a lone surrogate would have the same UTF-8 bytes
      'a sub with a lone surrogate': {
        authorization: () => bearer(token({ sub: 'alice\uD800' })),
        status: 401,
      },
      'a sub with a control character': {
        authorization: () => bearer(token({ sub: 'alice\r\nadmin' })),
        status: 401,
      },
      'a sub of 300 characters': {
        authorization: () => bearer(token({ sub: 'x'.repeat(300) })),
        status: 401,
      },
      'no scope': { authorization: () => bearer(token({ scope: undefined })), status: 403 },
      'only unknown scopes': {
        authorization: () => bearer(token({ scope: 'root superuser *' })),
        status: 403,
      },
      'a read-only scope on a write route': {
        authorization: () => bearer(token({ scope: 'models:read' })),
        method: 'POST',
        path: '/v1/models',
        body: '{}',
        status: 403,
      },
      'a batch:read scope submitting a batch job': {
        authorization: () => bearer(token({ scope: 'batch:read' })),
        method: 'POST',
        path: '/v1/batch-jobs',
        body: JSON.stringify({ model: 'simple', items: batchItems(1) }),
        status: 403,
      },
      'a models:read scope calling inference': {
        authorization: () => bearer(token({ scope: 'models:read' })),
        method: 'POST',
        path: '/v2/models/simple/infer',
        body: INFER_BODY,
        status: 403,
      },

      // wrong claim types
      'exp as a string': { authorization: () => bearer(token({ exp: String(now() + 600) })), status: 401 },
      'nbf as a string': { authorization: () => bearer(token({ nbf: String(now() - 10) })), status: 401 },
      'iat as a string': { authorization: () => bearer(token({ iat: 'yesterday' })), status: 401 },
      'sub as a number': { authorization: () => bearer(token({ sub: 1234 })), status: 401 },
      'sub as an object': { authorization: () => bearer(token({ sub: { id: 'alice' } })), status: 401 },
      'scope as an array of numbers': { authorization: () => bearer(token({ scope: [1, 2] })), status: 401 },
      'scope as an object': { authorization: () => bearer(token({ scope: { admin: true } })), status: 401 },
      'scp as a number (no scope)': {
        authorization: () => bearer(token({ scope: undefined, scp: 7 })),
        status: 401,
      },
      'tier as an object': { authorization: () => bearer(token({ tier: { name: 'premium' } })), status: 401 },
      'aud as a number': { authorization: () => bearer(token({ aud: 42 })), status: 401 },

      // size: the verifier refuses tokens over 8 KB; API Gateway refuses a request whose request line
      // and header values pass 10,240 bytes before any authorizer runs (it does not document the
      // status: the emulator's is 431), and the emulator's HTTP parser stops a head past 64 KB.
      'a validly signed token past the verifier’s 8 KB, within the header quota': {
        authorization: () => bearer(token({ pad: 'x'.repeat(6 * 1024) })),
        status: 401,
      },
      'a validly signed token past the header quota': {
        authorization: () => bearer(token({ pad: 'x'.repeat(9 * 1024) })),
        status: 431,
      },
      'a 20 KB Authorization header': {
        authorization: () => bearer(`${'a'.repeat(20 * 1024)}.b.c`),
        status: 431,
      },
      'a 1 MB Authorization header': {
        authorization: () => bearer(`${'a'.repeat(1024 * 1024)}.b.c`),
        status: 431,
      },

      // the token must come in the Authorization header and nowhere else
      'a valid token in the query string only': {
        authorization: () => undefined,
        path: () => `${GET_MODEL}?access_token=${token()}`,
        status: 401,
      },
      'a read-only header with an admin token in the query string': {
        authorization: () => bearer(token({ scope: 'models:read' })),
        method: 'POST',
        path: () => `/v1/models?access_token=${token()}&token=${token()}`,
        body: '{}',
        status: 403,
      },
    };

    const rows = Object.entries(attacks).map(([name, attack]) => [name, attack.status, attack] as const);

    it.each(rows)('%s → %i', async (_case, _status, attack) => {
      // Act
      const path = typeof attack.path === 'function' ? attack.path() : attack.path;
      const request = {
        method: attack.method,
        authorization: await attack.authorization(),
        body: attack.body,
      };
      if (attack.reusedAfterMs !== undefined) {
        expect((await send(path ?? GET_MODEL, request)).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, attack.reusedAfterMs));
      }
      const result = await send(path ?? GET_MODEL, request);
      // Assess
      expect(result.status).toBe(attack.status);
      if (attack.status === 200) return;
      if (attack.status === 431) return; // the header quota's answer has no body
      expect(result.body).toEqual({
        error: expect.any(String),
        code: attack.status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN',
        requestId: expect.any(String),
      });
    });
  });

  describe('tenant isolation', () => {
    type Caller = 'alice' | 'bob' | 'admin';
    const tokens = {} as Record<Caller, string>;
    const as = (
      caller: Caller,
      path: string,
      init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
    ) =>
      send(path, {
        method: init.method,
        authorization: bearer(tokens[caller]),
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        headers: init.headers,
      });
    let aliceJob: string;
    /** A job of alice's that the DELETE row may delete, so that aliceJob stays for the other rows. */
    let aliceDeletable: string;

    beforeAll(async () => {
      const mint = (sub: string, scope: string) => token({ sub, scope });
      tokens.alice = mint('alice', STANDARD_SCOPES);
      tokens.bob = mint('bob', STANDARD_SCOPES);
      tokens.admin = mint('operator', SCOPES.join(' '));
      const submitted = await as('alice', '/v1/batch-jobs', {
        method: 'POST',
        headers: { 'Idempotency-Key': 'shared-key-1' },
        body: { model: 'simple', items: batchItems(3) },
      });
      expect(submitted.status).toBe(202);
      aliceJob = submitted.body.jobId as string;
      const deletable = await as('alice', '/v1/batch-jobs', {
        method: 'POST',
        body: { model: 'simple', items: batchItems(1) },
      });
      expect(deletable.status).toBe(202);
      aliceDeletable = deletable.body.jobId as string;
    });

    /** Routes on one principal's resource: the owner and admin see it; anyone else gets 404, as for a missing one. */
    const OWNED: Record<string, { method: string; path: (jobId: string) => string; owner: number[] }> = {
      'GET /v1/batch-jobs/{jobId}': { method: 'GET', path: (id) => `/v1/batch-jobs/${id}`, owner: [200] },
      'GET /v1/batch-jobs/{jobId}/results': {
        method: 'GET',
        path: (id) => `/v1/batch-jobs/${id}/results`,
        owner: [200],
      },
      // before cancel, whose owner call cancels the job the later rows check: 409 unless the job has finished with failed items
      'POST /v1/batch-jobs/{jobId}/retry': {
        method: 'POST',
        path: (id) => `/v1/batch-jobs/${id}/retry`,
        owner: [409],
      },
      // 409 once the job has finished, which a small job may have done already
      'POST /v1/batch-jobs/{jobId}/cancel': {
        method: 'POST',
        path: (id) => `/v1/batch-jobs/${id}/cancel`,
        owner: [202, 409],
      },
      // On alice's other job: 204 once it has ended, else 409; only the owner deletes, so the admin
      // control gets 404 (as it does after alice's delete).
      'DELETE /v1/batch-jobs/{jobId}': {
        method: 'DELETE',
        path: (id) => `/v1/batch-jobs/${id === aliceJob ? aliceDeletable : id}`,
        owner: [204, 409, 404],
      },
    };
    /** Routes that create or list a principal's own resources. */
    const PER_CALLER = [
      'POST /v1/batch-jobs',
      'GET /v1/batch-jobs',
      // An input file's key derives from its uploader: a job or a completion reaches only the caller's own.
      'POST /v1/batch-inputs',
      'POST /v1/batch-inputs/{inputId}/complete',
    ];
    /** The model registry and data plane: shared by every principal, guarded by scopes only. */
    const SHARED_READ: Record<string, { method: string; path: string; body?: string }> = {
      'GET /v2/models/{model}': { method: 'GET', path: '/v2/models/simple' },
      'GET /v2/models/{model}/ready': { method: 'GET', path: '/v2/models/simple/ready' },
      'GET /v2/models/{model}/versions/{version}': { method: 'GET', path: '/v2/models/simple/versions/1' },
      'GET /v2/models/{model}/versions/{version}/ready': {
        method: 'GET',
        path: '/v2/models/simple/versions/1/ready',
      },
      'GET /v2/models/{model}/config': { method: 'GET', path: '/v2/models/simple/config' },
      'GET /v2/models/{model}/versions/{version}/config': {
        method: 'GET',
        path: '/v2/models/simple/versions/1/config',
      },
      'POST /v2/models/{model}/infer': { method: 'POST', path: '/v2/models/simple/infer', body: INFER_BODY },
      'POST /v2/models/{model}/versions/{version}/infer': {
        method: 'POST',
        path: '/v2/models/simple/versions/1/infer',
        body: INFER_BODY,
      },
      'GET /v1/models': { method: 'GET', path: '/v1/models' },
      'GET /v1/models/{model}': { method: 'GET', path: '/v1/models/simple' },
      'GET /v1/models/{model}/versions/{version}': { method: 'GET', path: '/v1/models/simple/versions/1' },
    };
    /** Registry writes, in an order where each succeeds for the admin control. */
    const SHARED_WRITE: [string, { method: string; path: string; body?: unknown; admin: number }][] = [
      [
        'POST /v1/models',
        {
          method: 'POST',
          path: '/v1/models',
          body: {
            name: 'tenant-probe',
            version: '1',
            platform: 'onnxruntime_onnx',
            ...SIMPLE_SIGNATURE,
            backends: [{ endpointName: 'local-triton', targetModel: 'simple' }],
          },
          admin: 201,
        },
      ],
      [
        'PATCH /v1/models/{model}/versions/{version}',
        {
          method: 'PATCH',
          path: '/v1/models/tenant-probe/versions/1',
          body: { description: 'x' },
          admin: 200,
        },
      ],
      [
        'PUT /v1/models/{model}/aliases/{alias}',
        {
          method: 'PUT',
          path: '/v1/models/tenant-probe/aliases/live',
          body: { routes: [{ version: '1', weight: 100 }] },
          admin: 200,
        },
      ],
      [
        'POST /v1/models/{model}/versions/{version}/upload',
        {
          method: 'POST',
          path: '/v1/models/tenant-probe/versions/2/upload',
          body: { sha256: 'a'.repeat(64), size: 100 },
          admin: 200,
        },
      ],
      [
        'POST /v1/models/{model}/versions/{version}/upload/complete',
        {
          method: 'POST',
          path: '/v1/models/tenant-probe/versions/2/upload/complete',
          body: { sha256: 'a'.repeat(64) },
          // Past the scope check: nothing was uploaded under that hash.
          admin: 400,
        },
      ],
      [
        'DELETE /v1/models/{model}/aliases/{alias}',
        { method: 'DELETE', path: '/v1/models/tenant-probe/aliases/live', admin: 204 },
      ],
      [
        'DELETE /v1/models/{model}/versions/{version}',
        { method: 'DELETE', path: '/v1/models/tenant-probe/versions/1', admin: 204 },
      ],
    ];
    const PUBLIC = ROUTES.filter((r) => !r.scope).map((r) => `${r.method} ${r.path}`);

    it('has a row for every route of the route table, and each route in one place only', () => {
      const classified = [
        ...Object.keys(OWNED),
        ...PER_CALLER,
        ...Object.keys(SHARED_READ),
        ...SHARED_WRITE.map(([route]) => route),
        ...PUBLIC,
      ];
      expect(new Set(classified).size).toBe(classified.length);
      expect([...classified].sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    });

    it.each(Object.entries(OWNED))(
      "%s: bob gets 404 on alice's job, exactly as for a job that does not exist",
      async (_route, { method, path, owner }) => {
        // Act
        const bob = await as('bob', path(aliceJob), { method });
        const missingId = randomUUID();
        const missing = await as('bob', path(missingId), { method });
        // Assess: nothing tells an existing job from a missing one
        expect(bob.status).toBe(404);
        expect(missing.status).toBe(404);
        expect(bob.body).toEqual({
          error: expect.any(String),
          code: 'NOT_FOUND',
          requestId: expect.any(String),
        });
        expect(bob.body.code).toBe(missing.body.code);
        const aliceId = path(aliceJob).split('/')[3]!;
        expect(bob.body.error!.replace(aliceId, '<id>')).toBe(missing.body.error!.replace(missingId, '<id>'));
        // bob's attempt changed nothing: the job is neither deleted nor cancelled on his behalf
        const seen = await as('alice', `/v1/batch-jobs/${aliceId}`);
        expect(seen.status).toBe(200);
        expect(seen.body).not.toHaveProperty('cancelRequestedAt');
        // the owner, and the admin control, do see it
        expect(owner).toContain((await as('alice', path(aliceJob), { method })).status);
        expect(owner).toContain((await as('admin', path(aliceJob), { method })).status);
      },
    );

    it("keeps listings and idempotency keys per caller: bob never sees or reuses alice's job", async () => {
      // Act: bob submits with alice's idempotency key, then everyone lists
      const bobSubmit = await as('bob', '/v1/batch-jobs', {
        method: 'POST',
        headers: { 'Idempotency-Key': 'shared-key-1' },
        body: { model: 'simple', items: batchItems(1) },
      });
      const lists = {
        alice: await as('alice', '/v1/batch-jobs?limit=100'),
        bob: await as('bob', '/v1/batch-jobs?limit=100'),
        admin: await as('admin', '/v1/batch-jobs?limit=100'),
      };
      // Assess
      expect(bobSubmit.status).toBe(202);
      expect(bobSubmit.body.jobId).not.toBe(aliceJob);
      expect(bobSubmit.body.owner).toBe('bob');
      const ids = (caller: Caller) =>
        (lists[caller].body.jobs as { jobId: string; owner: string }[]).map((j) => j.jobId);
      expect(ids('alice')).toContain(aliceJob);
      expect(ids('alice')).not.toContain(bobSubmit.body.jobId);
      expect(ids('bob')).toEqual([bobSubmit.body.jobId]);
      // The listing is the caller's own jobs, admin included (admin reads others' jobs by id).
      expect(ids('admin')).toEqual([]);
      for (const caller of ['alice', 'bob'] as const) {
        expect(new Set((lists[caller].body.jobs as { owner: string }[]).map((j) => j.owner))).toEqual(
          new Set([caller]),
        );
      }
    });

    const forgedPageToken = (partition: string, key: { pk?: string; sk?: string; gsi1sk?: string } = {}) =>
      Buffer.from(
        JSON.stringify({
          pk: { S: key.pk ?? 'JOB#x' },
          sk: { S: key.sk ?? '#JOB' },
          gsi1pk: { S: partition },
          gsi1sk: { S: key.gsi1sk ?? '2020-01-01T00:00:00.000Z' },
        }),
      ).toString('base64url');
    // A page token is a key position; one from another listing is not a token this API issued to
    // this caller, so it is a 400 like any forged token (DynamoDB refuses such a start key).
    it.each<[string, string, () => Promise<string>]>([
      [
        "bob replays alice's page token on /v1/batch-jobs",
        '/v1/batch-jobs',
        async () => {
          const second = await as('alice', '/v1/batch-jobs', {
            method: 'POST',
            body: { model: 'simple', items: batchItems(1) },
          });
          expect(second.status).toBe(202);
          const page = await as('alice', '/v1/batch-jobs?limit=1');
          expect(page.body.nextToken).toEqual(expect.any(String));
          return page.body.nextToken as string;
        },
      ],
      [
        "a token naming alice's partition on /v1/batch-jobs",
        '/v1/batch-jobs',
        async () => forgedPageToken('OWNER#alice'),
      ],
      [
        'a token naming another index partition on /v1/models',
        '/v1/models',
        async () => forgedPageToken('OTHER'),
      ],
      // The caller's own partition, but a key value DynamoDB refuses in a start key: an empty string.
      ...(['pk', 'sk', 'gsi1sk'] as const).flatMap((attribute): [string, string, () => Promise<string>][] => [
        [
          `a token with an empty ${attribute} on /v1/models`,
          '/v1/models',
          async () => forgedPageToken('MODELS', { [attribute]: '' }),
        ],
        [
          `a token with an empty ${attribute} in bob's own partition on /v1/batch-jobs`,
          '/v1/batch-jobs',
          async () => forgedPageToken('OWNER#bob', { [attribute]: '' }),
        ],
      ]),
    ])('%s answers 400, not 5xx', async (_case, path, pageToken) => {
      const result = await as('bob', `${path}?limit=1&nextToken=${await pageToken()}`);
      expect(result.status).toBe(400);
      expect(result.body.code).toBe('BAD_REQUEST');
      expect(JSON.stringify(result.body)).not.toContain(aliceJob);
    });

    it.each(Object.entries(SHARED_READ))(
      '%s: a shared resource that alice and bob both read',
      async (_route, route) => {
        for (const caller of ['alice', 'bob'] as const) {
          const result = await send(route.path, {
            method: route.method,
            authorization: bearer(tokens[caller]),
            body: route.body,
          });
          expect(result.status, caller).toBe(200);
        }
      },
    );

    it.each(SHARED_WRITE)(
      '%s: only a models:write holder changes the shared registry',
      async (_route, route) => {
        for (const caller of ['alice', 'bob'] as const) {
          const denied = await as(caller, route.path, { method: route.method, body: route.body });
          expect(denied.status, caller).toBe(403);
          expect(denied.body.code).toBe('FORBIDDEN');
        }
        expect((await as('admin', route.path, { method: route.method, body: route.body })).status).toBe(
          route.admin,
        );
      },
    );
  });

  describe('batch job ownership', () => {
    const key = `owned-key-${randomUUID()}`;
    const as = (sub: string, path: string, init: { method?: string; body?: unknown; key?: string } = {}) =>
      send(path, {
        method: init.method,
        authorization: bearer(token({ sub, scope: STANDARD_SCOPES })),
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        headers: init.key ? { 'Idempotency-Key': init.key } : {},
      });
    const submitKeyed = (sub: string) =>
      as(sub, '/v1/batch-jobs', { method: 'POST', key, body: { model: 'simple', items: batchItems(2) } });

    it("an SQS message naming the id of victim's keyed submission cannot pre-claim it", async () => {
      // Prepare: mallory sends a job under the id victim's key derives, then a control job.
      const sqs = new SQSClient({
        endpoint: platform.sqsUrl,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      const control = `control-${randomUUID()}`;
      const message = (jobId: string) => ({
        QueueUrl: platform.submissionsQueueUrl,
        MessageBody: JSON.stringify({ model: 'simple', owner: 'mallory', jobId, items: batchItems(5) }),
      });
      await sqs.send(new SendMessageCommand(message(jobIdFor('victim', key))));
      await sqs.send(new SendMessageCommand(message(control)));
      sqs.destroy();
      for (let attempt = 0; attempt < 100; attempt++) {
        if ((await as('mallory', `/v1/batch-jobs/${control}`)).status === 200) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }

      // Act
      const submitted = await submitKeyed('victim');

      // Assess: victim's own job, not mallory's
      expect(submitted.status).toBe(202);
      expect(submitted.body).toMatchObject({ jobId: jobIdFor('victim', key), owner: 'victim', total: 2 });
    });

    it("a keyed submission that meets another owner's job is a 409 that shows nothing of that job", async () => {
      // Prepare: a job of mallory's under the id grace's key derives, however it got there.
      const dynamodb = localDynamoDb(platform.dynamodbUrl);
      const { TableNames = [] } = await dynamodb.send(new ListTablesCommand({}));
      const table = TableNames.find((name) => name.endsWith('-batch'));
      expect(table).toBeDefined();
      const jobId = jobIdFor('grace', key);
      await new BatchStore(dynamodb, table!).createJob({
        jobId,
        owner: 'mallory',
        fingerprint: 'mallory-body',
        chunkSet: 'mallory-chunks',
        model: 'simple',
        version: '1',
        total: 7,
        chunks: 1,
        createdAt: new Date().toISOString(),
      });
      dynamodb.destroy();

      // Act
      const submitted = await submitKeyed('grace');

      // Assess
      expect(submitted.status).toBe(409);
      expect(submitted.body).toEqual({
        error: expect.any(String),
        code: 'CONFLICT',
        requestId: expect.any(String),
      });
      expect(JSON.stringify(submitted.body)).not.toContain('mallory');
    });
  });
});
