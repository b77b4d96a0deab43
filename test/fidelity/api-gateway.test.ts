/**
 * What the local API Gateway emulator encodes about API Gateway, against the synthesized stack: each
 * rule is read from the template and observed on the emulator, so changing one side alone fails here.
 * The rules and their sources: docs/api-gateway-rules.md.
 */

import type { Template } from 'aws-cdk-lib/assertions';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  GATEWAY_RESPONSES,
  type GatewayResponseType,
  gatewayResponseStatus,
  gatewayResponseTemplate,
} from '../../contracts/gateway-responses';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../contracts/lambda-limits';
import { isBinaryMediaType } from '../../contracts/media-types';
import {
  type ApiGatewayEmulator,
  type ApiGatewayEmulatorOptions,
  LAMBDA_PAYLOAD_TOO_LARGE,
  startApiGateway,
} from '../../local/aws/api-gateway';
import { type PlatformApp, synthesizePlatform } from '../infra/platform-app';

// biome-ignore lint/suspicious/noExplicitAny: template properties are untyped CloudFormation JSON.
type Properties = Record<string, any>;

const ok = async () => ({ statusCode: 200, headers: {}, body: '{}' });
const allow = (principalId = 'client-1'): APIGatewayAuthorizerResult => ({
  principalId,
  policyDocument: {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:*:*:*/*/*' }],
  },
  context: { sub: principalId, scopes: 'inference:invoke batch:submit models:read', tier: 'standard' },
});

describe('the API Gateway emulator agrees with the synthesized REST API', () => {
  let platform: PlatformApp & { template: Template };
  let api: ApiGatewayEmulator | undefined;

  beforeAll(() => {
    platform = synthesizePlatform();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await api?.close();
    api = undefined;
  });
  afterAll(() => vi.restoreAllMocks());

  /** The emulator as the local platform starts it: the same configuration the stack was built from. */
  async function start(overrides: Partial<ApiGatewayEmulatorOptions> = {}) {
    const options: ApiGatewayEmulatorOptions = {
      handlers: { health: vi.fn(ok), inference: vi.fn(ok), models: vi.fn(ok), batch: vi.fn(ok) },
      authorizer: vi.fn(async () => allow()),
      authorizerCacheTtlSeconds: platform.config.authorizerCacheTtlSeconds,
      allowedOrigins: platform.config.allowedOrigins,
      ...overrides,
    };
    api = await startApiGateway(options);
    return { ...options, url: api.url };
  }

  const resources = (type: string): Properties[] =>
    Object.values(platform.template.findResources(type)).map((r) => r.Properties as Properties);

  it("passes a body base64-encoded exactly when the template's binary media types say so", async () => {
    const [restApi] = resources('AWS::ApiGateway::RestApi');
    const types: string[] = restApi!.BinaryMediaTypes ?? [];
    const { url, handlers } = await start();
    const contentTypes = [undefined, 'application/json', 'application/octet-stream', 'text/plain'];
    for (const contentType of contentTypes) {
      await fetch(`${url}/v2/models/simple/infer`, {
        method: 'POST',
        headers: { Authorization: 'Bearer t', ...(contentType ? { 'Content-Type': contentType } : {}) },
        body: new TextEncoder().encode('{}'),
      });
    }
    const events = vi.mocked(handlers.inference).mock.calls.map(([event]) => event as APIGatewayProxyEvent);
    expect(events.map((e) => e.isBase64Encoded)).toEqual(
      contentTypes.map((t) => isBinaryMediaType(t, types)),
    );
  });

  it("turns a function's base64 answer into bytes exactly when the template's binary media types say so", async () => {
    const [restApi] = resources('AWS::ApiGateway::RestApi');
    const types: string[] = restApi!.BinaryMediaTypes ?? [];
    const inference = vi.fn(async () => ({
      statusCode: 200,
      headers: {},
      body: Buffer.from('bytes').toString('base64'),
      isBase64Encoded: true,
    }));
    const { url } = await start({
      handlers: { health: vi.fn(ok), inference, models: vi.fn(ok), batch: vi.fn(ok) },
    });
    for (const accept of [undefined, 'application/json', 'application/octet-stream', 'text/html']) {
      const response = await fetch(`${url}/v2/models/simple/infer`, {
        method: 'POST',
        headers: { Authorization: 'Bearer t', ...(accept ? { Accept: accept } : {}) },
        body: new TextEncoder().encode('{}'),
      });
      const expected = isBinaryMediaType(accept, types) ? 'bytes' : Buffer.from('bytes').toString('base64');
      expect(await response.text(), `Accept ${accept}`).toBe(expected);
    }
  });

  it('installs exactly the gateway response types the emulator answers with, with the same status and body', () => {
    const installed = new Map(
      resources('AWS::ApiGateway::GatewayResponse').map((p) => [p.ResponseType as string, p]),
    );
    const table = Object.keys(GATEWAY_RESPONSES) as GatewayResponseType[];
    expect([...installed.keys()].sort()).toEqual([...table].sort());
    for (const type of table) {
      const response = installed.get(type)!;
      const status = gatewayResponseStatus(type);
      expect(response.StatusCode, type).toBe(status === undefined ? undefined : String(status));
      expect(response.ResponseTemplates, type).toEqual({ 'application/json': gatewayResponseTemplate(type) });
    }
  });

  it.each([
    ['MISSING_AUTHENTICATION_TOKEN', 'an unknown path', { path: '/v2/nowhere', headers: {} }],
    ['UNAUTHORIZED', 'no Authorization header', { path: '/v2/models/simple/infer', headers: {} }],
    [
      'INTEGRATION_FAILURE',
      'a function that throws',
      { path: '/v2/models/simple/infer', headers: { Authorization: 'Bearer t' } },
    ],
  ] as const)(
    'answers %s (%s) with the status, body and CORS header the template installs',
    async (type, _case, call) => {
      const { url } = await start({
        handlers: {
          health: vi.fn(ok),
          inference: vi.fn(async () => {
            throw new Error('crash');
          }),
          models: vi.fn(ok),
          batch: vi.fn(ok),
        },
      });
      vi.spyOn(console, 'error').mockImplementation(() => undefined);
      const installed = resources('AWS::ApiGateway::GatewayResponse').find((p) => p.ResponseType === type)!;
      const response = await fetch(`${url}${call.path}`, {
        method: 'POST',
        headers: call.headers,
        body: '{}',
      });
      expect(String(response.status)).toBe(installed.StatusCode);
      const requestId = response.headers.get('x-amzn-requestid')!;
      expect(await response.text()).toBe(
        installed.ResponseTemplates['application/json'].replace('$context.requestId', requestId),
      );
      const origin = installed.ResponseParameters?.['gatewayresponse.header.Access-Control-Allow-Origin'];
      expect(response.headers.get('access-control-allow-origin')).toBe(origin ? origin.slice(1, -1) : null);
    },
  );

  it("caches an authorizer decision per Authorization header for the template's TTL", async () => {
    const [authorizer] = resources('AWS::ApiGateway::Authorizer');
    expect(authorizer!.IdentitySource).toBe('method.request.header.Authorization');
    const ttlSeconds: number = authorizer!.AuthorizerResultTtlInSeconds;
    expect(ttlSeconds).toBeGreaterThan(0);

    const now = Date.now();
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now);
    const { url, authorizer: authorize } = await start();
    const call = (token: string) =>
      fetch(`${url}/v2/models/simple/infer`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
        body: '{}',
      });
    await call('a');
    await call('a');
    expect(authorize).toHaveBeenCalledTimes(1);
    await call('b');
    expect(authorize).toHaveBeenCalledTimes(2);
    clock.mockReturnValue(now + ttlSeconds * 1000 - 1);
    await call('a');
    expect(authorize).toHaveBeenCalledTimes(2);
    clock.mockReturnValue(now + ttlSeconds * 1000);
    await call('a');
    expect(authorize).toHaveBeenCalledTimes(3);
  });

  it("refuses, as Lambda's synchronous invoke does, a proxy event over 6 MB on every API method", async () => {
    // Every API method is a Lambda proxy integration, invoked synchronously: Lambda's payload limit
    // applies to the whole event.
    const methods = resources('AWS::ApiGateway::Method').filter((m) => m.HttpMethod !== 'OPTIONS');
    expect(methods.length).toBeGreaterThan(0);
    for (const method of methods) {
      expect(method.Integration).toMatchObject({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' });
    }
    expect(LAMBDA_SYNC_PAYLOAD_BYTES).toBe(6 * 1024 * 1024);
    const { url, handlers } = await start();
    const response = await fetch(`${url}/v1/batch-jobs`, {
      method: 'POST',
      headers: { Authorization: 'Bearer t' },
      body: new Uint8Array(Math.ceil((LAMBDA_SYNC_PAYLOAD_BYTES * 3) / 4)).fill(0x61),
    });
    expect(response.status).toBe(LAMBDA_PAYLOAD_TOO_LARGE.statusCode);
    expect(handlers.batch).not.toHaveBeenCalled();
  });
});
