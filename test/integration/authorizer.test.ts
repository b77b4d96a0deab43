import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { METRIC, SERVICE_NAMES } from '../../contracts/metric-catalog';
import { isAllowed } from '../../local/aws/api-gateway';
import { startSecretsManager } from '../../local/aws/secrets-manager';
import { emfOf } from '../helpers/emf';
import { lambdaContext } from '../helpers/events';

const API = 'arn:aws:execute-api:us-east-1:123456789012:api/prod';
const event = (token: string | undefined, path = '/v2/models/simple/infer', method = 'POST') =>
  ({
    type: 'REQUEST',
    methodArn: `${API}/${method}${path}`,
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  }) as unknown as APIGatewayRequestAuthorizerEvent;

type Handler = (
  e: APIGatewayRequestAuthorizerEvent,
  c: ReturnType<typeof lambdaContext>,
) => Promise<APIGatewayAuthorizerResult>;

/** Imports the authorizer afresh, as a new Lambda container would, with this environment. */
async function coldStart(env: Record<string, string>): Promise<Handler> {
  vi.resetModules();
  for (const key of [
    'JWT_SECRET_ARN',
    'JWKS_URL',
    'JWT_ISSUER',
    'JWT_AUDIENCE',
    'JWT_TOKEN_TYPE',
    'JWT_TOKEN_USE',
    'PARAMETERS_SECRETS_EXTENSION_HTTP_PORT',
  ])
    delete process.env[key];
  Object.assign(process.env, { AWS_REGION: 'us-east-1', POWERTOOLS_LOG_LEVEL: 'SILENT', ...env });
  return (await import('../../functions/handlers/authorizer/handler')).handler as unknown as Handler;
}

describe('authorizer in HS256 mode with the key in Secrets Manager', () => {
  const secret = 'a-signing-secret-held-in-secrets-manager-0123456789';
  const secretArn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt';
  let secrets: Awaited<ReturnType<typeof startSecretsManager>>;
  let handler: Handler;

  beforeAll(async () => {
    secrets = await startSecretsManager({ [secretArn]: secret });
    handler = await coldStart(hs256Environment());
  });
  afterAll(async () => {
    await secrets.close();
  });

  const hs256Environment = () => ({
    JWT_SECRET_ARN: secretArn,
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(secrets.port),
    AWS_SESSION_TOKEN: 'session-token',
  });

  const sign = (claims: Record<string, unknown>, key = secret) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(key));

  it("allows the routes of the token scopes and passes the principal and the token's exp on", async () => {
    // Prepare
    const exp = Math.floor(Date.now() / 1000) + 300;
    // Act
    const result = await handler(
      event(await sign({ scope: 'inference:invoke', tier: 'premium', exp })),
      lambdaContext(),
    );
    // Assess
    expect(isAllowed(result, `${API}/POST/v2/models/simple/infer`)).toBe(true);
    expect(isAllowed(result, `${API}/POST/v1/models`)).toBe(false);
    expect(result.context).toEqual({
      sub: 'alice',
      scopes: 'inference:invoke',
      tier: 'premium',
      exp: String(exp),
    });
  });

  it.each([
    ['no Authorization header', undefined],
    ['a token signed with another key', 'other'],
    ['a token that is not a JWT', 'garbage'],
  ])('answers Unauthorized for %s', async (_case, kind) => {
    const token =
      kind === undefined
        ? undefined
        : kind === 'garbage'
          ? 'abc.def.ghi'
          : await sign({}, 'another-secret-key-0123456789');
    await expect(handler(event(token), lambdaContext())).rejects.toThrow(/^Unauthorized$/);
  });

  it('counts each refusal in one EMF line, and neither an allowed request nor a failure of its own', async () => {
    // Prepare: a container that publishes metrics, as in Lambda
    const metricsEnvironment = {
      POWERTOOLS_METRICS_DISABLED: 'false',
      POWERTOOLS_METRICS_NAMESPACE: 'InferencePlatform',
      POWERTOOLS_SERVICE_NAME: SERVICE_NAMES.authorizer,
    };
    const before = Object.fromEntries(Object.keys(metricsEnvironment).map((k) => [k, process.env[k]]));
    try {
      const cold = await coldStart({ ...hs256Environment(), ...metricsEnvironment });
      const unreadable = await coldStart({
        ...hs256Environment(),
        ...metricsEnvironment,
        JWT_SECRET_ARN: `${secretArn}-missing`,
      });
      const valid = await sign({ scope: 'models:read' });
      const reject = (act: Promise<unknown>) => act.catch((error: Error) => error.message);
      // Act
      const refused = await emfOf(async () => {
        await reject(cold(event(undefined), lambdaContext()));
        await reject(cold(event(await sign({}, 'another-secret-key-0123456789')), lambdaContext()));
      });
      const allowed = await emfOf(() => cold(event(valid), lambdaContext()));
      const failed = await emfOf(() => reject(unreadable(event(valid), lambdaContext())));
      // Assess
      expect(refused).toHaveLength(2);
      for (const doc of refused) {
        expect(doc._aws.CloudWatchMetrics).toEqual([
          {
            Namespace: 'InferencePlatform',
            Dimensions: [['service']],
            Metrics: [{ Name: METRIC.unauthorizedRequests, Unit: 'Count' }],
          },
        ]);
        expect(doc).toMatchObject({ service: SERVICE_NAMES.authorizer, [METRIC.unauthorizedRequests]: 1 });
      }
      expect(allowed).toEqual([]);
      expect(failed).toEqual([]);
    } finally {
      for (const [key, value] of Object.entries(before)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });

  it('reads the current signing key through the secrets extension once per container and TTL', async () => {
    // Prepare: a fresh container
    const cold = await coldStart(hs256Environment());
    const read = vi.spyOn(globalThis, 'fetch');
    // Act
    for (let i = 0; i < 5; i++) await cold(event(await sign({ scope: 'models:read' })), lambdaContext());
    // Assess
    expect(read).toHaveBeenCalledTimes(1);
    expect(String(read.mock.calls[0]![0])).toBe(
      `http://localhost:${secrets.port}/secretsmanager/get?secretId=${encodeURIComponent(secretArn)}&versionStage=AWSCURRENT`,
    );
    expect(read.mock.calls[0]![1]?.headers).toEqual({ 'X-Aws-Parameters-Secrets-Token': 'session-token' });
    read.mockRestore();
  });

  it('retries a failed key read on the next request', async () => {
    const cold = await coldStart({ ...hs256Environment(), JWT_SECRET_ARN: `${secretArn}-missing` });
    const token = await sign({ scope: 'models:read' });
    await expect(cold(event(token), lambdaContext())).rejects.toThrow(
      /secret .*-missing \(AWSCURRENT\): 400/,
    );
    const read = vi.spyOn(globalThis, 'fetch');
    await expect(cold(event(token), lambdaContext())).rejects.toThrow(/400/);
    expect(read).toHaveBeenCalledTimes(1);
    read.mockRestore();
  });

  it('keeps accepting tokens of the previous key after a rotation, and rereads the key once its TTL has passed', async () => {
    // Prepare: a secret of its own, and a container that read it before the rotation
    const arn = `${secretArn}-rotated`;
    const keys = ['first-key-0123456789-0123456789-0123456789', 'second-key-0123456789-0123456789-012345678'];
    const rotating = await startSecretsManager({ [arn]: keys[0]! });
    try {
      const cold = await coldStart({
        ...hs256Environment(),
        JWT_SECRET_ARN: arn,
        PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(rotating.port),
      });
      const signedWith = async (key: string) => event(await sign({ scope: 'models:read' }, key));
      await expect(cold(await signedWith(keys[0]!), lambdaContext())).resolves.toMatchObject({
        principalId: 'alice',
      });
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
      // Act: the rotation function's finishSecret; then the container's cached key goes stale
      rotating.rotate(arn, keys[1]!);
      const stale = await cold(await signedWith(keys[1]!), lambdaContext()).catch(
        (error: Error) => error.message,
      );
      vi.advanceTimersByTime(61_000);
      // Assess: within the TTL the container still trusts the key it read; after it, both keys verify
      expect(stale).toBe('Unauthorized');
      await expect(cold(await signedWith(keys[1]!), lambdaContext())).resolves.toMatchObject({
        principalId: 'alice',
      });
      await expect(cold(await signedWith(keys[0]!), lambdaContext())).resolves.toMatchObject({
        principalId: 'alice',
      });
      // a second rotation retires the first key
      rotating.rotate(arn, 'third-key-0123456789-0123456789-0123456789');
      vi.advanceTimersByTime(61_000);
      await expect(cold(await signedWith(keys[0]!), lambdaContext())).rejects.toThrow(/^Unauthorized$/);
    } finally {
      vi.useRealTimers();
      await rotating.close();
    }
  });

  it('refuses to start without the session token the extension asks for', async () => {
    await expect(coldStart({ ...hs256Environment(), AWS_SESSION_TOKEN: '' })).rejects.toThrow(
      /AWS_SESSION_TOKEN/,
    );
  });
});

describe('authorizer in OIDC mode with a JWKS URL', () => {
  let jwksServer: Server;
  let handler: Handler;
  type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const keys: { rs: PrivateKey; es: PrivateKey; rsPublic: JWK } = {} as never;

  beforeAll(async () => {
    const rs = await generateKeyPair('RS256', { extractable: true });
    const es = await generateKeyPair('ES256', { extractable: true });
    keys.rs = rs.privateKey;
    keys.es = es.privateKey;
    keys.rsPublic = await exportJWK(rs.publicKey);
    const jwks = {
      keys: [
        { ...keys.rsPublic, kid: 'rs-1', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(es.publicKey)), kid: 'es-1', alg: 'ES256', use: 'sig' },
      ],
    };
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    handler = await coldStart({
      JWKS_URL: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`,
      JWT_ISSUER: 'https://idp.example.com/',
      JWT_AUDIENCE: 'inference-api',
    });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
  });
  beforeEach(() => vi.restoreAllMocks());

  const sign = (alg: 'RS256' | 'ES256' | 'HS256', claims: Record<string, unknown> = {}) => {
    const jwt = new SignJWT({
      scp: ['models:read'],
      iss: 'https://idp.example.com/',
      aud: 'inference-api',
      ...claims,
    })
      .setProtectedHeader({ alg, kid: alg === 'ES256' ? 'es-1' : 'rs-1' })
      .setSubject('oidc-user')
      .setExpirationTime('5m');
    if (alg === 'RS256') return jwt.sign(keys.rs);
    if (alg === 'ES256') return jwt.sign(keys.es);
    // The confusion attack: the RSA public key's bytes used as an HMAC secret.
    return jwt.sign(new TextEncoder().encode(JSON.stringify(keys.rsPublic)));
  };

  it.each([
    ['JWT_ISSUER', { JWT_ISSUER: '' }],
    ['JWT_AUDIENCE', { JWT_AUDIENCE: '' }],
  ])('refuses to start without %s: the issuer signs tokens for other clients too', async (_name, unset) => {
    await expect(
      coldStart({
        JWKS_URL: 'https://idp.example.com/jwks.json',
        JWT_ISSUER: 'https://idp.example.com/',
        JWT_AUDIENCE: 'inference-api',
        ...unset,
      }),
    ).rejects.toThrow(/JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE/);
  });

  it.each(['RS256', 'ES256'] as const)('accepts a %s token from the issuer', async (alg) => {
    const result = await handler(event(await sign(alg), '/v2/models/simple', 'GET'), lambdaContext());
    expect(isAllowed(result, `${API}/GET/v2/models/simple`)).toBe(true);
    expect(result.principalId).toBe('oidc-user');
  });

  it.each([
    ['an HS256 token signed with the public key', () => sign('HS256')],
    ['a token for another audience', () => sign('RS256', { aud: 'other-api' })],
    ['a token from another issuer', () => sign('RS256', { iss: 'https://evil.example.com/' })],
    [
      'a token whose kid is unknown',
      async () => {
        const jwt = new SignJWT({})
          .setProtectedHeader({ alg: 'RS256', kid: 'nope' })
          .setSubject('x')
          .setExpirationTime('5m');
        return jwt.sign(keys.rs);
      },
    ],
  ])('answers Unauthorized for %s', async (_case, make) => {
    await expect(handler(event(await make()), lambdaContext())).rejects.toThrow(/^Unauthorized$/);
  });
});
