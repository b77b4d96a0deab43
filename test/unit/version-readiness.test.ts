import { DynamoDBClient, GetItemCommand, QueryCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Alias, ModelVersion } from '../../contracts/registry-schemas';
import { RegistryService } from '../../functions/handlers/models/registry-service';
import type { Model, ModelRegistry } from '../../functions/registry/registry';
import { INFERENCE_FUNCTION_ENV, lambdaContext, proxyEvent } from '../helpers/events';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const dynamodb = mockClient(DynamoDBClient);
const sagemaker = mockClient(SageMakerRuntimeClient);

const at = '2026-01-01T00:00:00Z';
const simple = (version: string, status: ModelVersion['status'], statusReason?: string): ModelVersion => ({
  name: 'simple',
  version,
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: 'triton', targetModel: `simple-v${version}.tar.gz`, weight: 100 }],
  status,
  ...(statusReason ? { statusReason } : {}),
  createdAt: at,
  updatedAt: at,
});
const versions = [
  simple('1', 'ACTIVE'),
  simple('2', 'LOADING'),
  simple('3', 'FAILED', "the model rejected the request: model 'simple' is a pytorch model"),
  simple('4', 'DISABLED'),
];
// An alias that came to route to a version that is no longer active (written before a status race).
const canary: Alias = {
  name: 'simple',
  alias: 'canary',
  routes: [
    { version: '1', weight: 10 },
    { version: '2', weight: 90 },
  ],
  createdAt: at,
  updatedAt: at,
};
const partition = [
  { pk: 'MODEL#simple', sk: '#MODEL', name: 'simple', createdAt: at },
  ...versions.map((v) => ({ pk: 'MODEL#simple', sk: `VERSION#${v.version}`, ...v })),
  { pk: 'MODEL#simple', sk: 'ALIAS#canary', ...canary },
].map((item) => marshall(item));

const ones = Array.from({ length: 16 }, () => 1);
const body = {
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ones },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ones },
  ],
};

function event(target: string, route: 'infer' | 'ready', requestId = 'r') {
  return proxyEvent({
    resource: `/v2/models/{model}/versions/{version}/${route}`,
    path: `/v2/models/simple/versions/${target}/${route}`,
    httpMethod: route === 'infer' ? 'POST' : 'GET',
    pathParameters: { model: 'simple', version: target },
    body: route === 'infer' ? body : undefined,
    headers: { 'X-Request-Id': requestId },
  });
}

let handler: (
  event: APIGatewayProxyEvent,
  context: ReturnType<typeof lambdaContext>,
) => Promise<APIGatewayProxyResult>;
let modelCache: { invalidate(name: string): void };

describe('versions that are not ACTIVE receive no traffic', () => {
  beforeAll(async () => {
    Object.assign(process.env, INFERENCE_FUNCTION_ENV);
    ({ handler } = await import('../../functions/handlers/inference/handler'));
    ({ modelCache } = await import('../../functions/edge/api-runtime'));
  });

  beforeEach(() => {
    modelCache.invalidate('simple');
    dynamodb.reset();
    sagemaker.reset();
    dynamodb.on(QueryCommand).resolves({ Items: partition });
    dynamodb.on(GetItemCommand).resolves({});
    dynamodb.on(UpdateItemCommand).resolves({ Attributes: { count: { N: '1' } } });
    sagemaker.on(InvokeEndpointCommand).resolves({
      Body: new TextEncoder().encode(JSON.stringify({ outputs: [] })) as never,
      ContentType: 'application/json',
    });
  });

  it('answers the readiness of a LOADING or FAILED version 400, as Triton does, and of an ACTIVE one 200', async () => {
    // Act
    const [active, loading, failed] = await Promise.all(
      ['1', '2', '3'].map((v) => handler(event(v, 'ready'), lambdaContext())),
    );
    // Assess
    expect(active!.statusCode).toBe(200);
    expect(loading!.statusCode).toBe(400);
    expect(JSON.parse(loading!.body).error).toMatch(/version 2 is not ready: it is LOADING/);
    expect(failed!.statusCode).toBe(400);
    expect(JSON.parse(failed!.body).error).toMatch(/it is FAILED/);
  });

  it('answers the readiness of a DISABLED version 404, as of a version the model does not have', async () => {
    const disabled = await handler(event('4', 'ready'), lambdaContext());
    expect(disabled.statusCode).toBe(404);
  });

  it('answers inference on a LOADING version 503 MODEL_LOADING with Retry-After, without calling the endpoint', async () => {
    // Act
    const result = await handler(event('2', 'infer'), lambdaContext());
    // Assess
    expect(result.statusCode).toBe(503);
    expect(result.headers?.['Retry-After']).toBe('5');
    expect(JSON.parse(result.body).error).toMatch(/version 2 is LOADING/);
    expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
  });

  it('answers inference on a FAILED version 409 with the reason its warm-up gave', async () => {
    // Act
    const result = await handler(event('3', 'infer'), lambdaContext());
    // Assess
    expect(result.statusCode).toBe(409);
    expect(JSON.parse(result.body).error).toMatch(/FAILED its warm-up.*pytorch model/);
    expect(sagemaker.commandCalls(InvokeEndpointCommand)).toHaveLength(0);
  });

  it("sends an alias's whole traffic to its active versions while another is not ACTIVE", async () => {
    // Act: 20 routing keys, of which about 90 % would pick version 2 by weight
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => handler(event('canary', 'infer', `key-${i}`), lambdaContext())),
    );
    // Assess
    expect(results.map((r) => r.statusCode)).toEqual(results.map(() => 200));
    expect(results.map((r) => r.headers?.['X-Model-Version'])).toEqual(results.map(() => '1'));
  });
});

describe('promoting a version that is not ACTIVE', () => {
  const model: Model = { name: 'simple', createdAt: at, versions, aliases: [] };
  const registry = {
    getModel: async () => model,
    getVersion: async (_: string, v: string) => versions.find((x) => x.version === v),
    putAlias: async (alias: Alias) => alias,
    updateVersion: async () => versions[0]!,
  } as unknown as ModelRegistry;
  const service = new RegistryService(registry, { invalidate: () => {} }, ['triton']);

  it.each([
    ['2', /cannot route to version 2: it is LOADING, not ACTIVE/],
    ['3', /it is FAILED, not ACTIVE \(the model rejected the request/],
  ])('refuses an alias route to version %s with 409 naming its status', async (version, message) => {
    // Act
    const error = await service
      .putAlias('simple', 'prod', {
        routes: [
          { version: '1', weight: 90 },
          { version, weight: 10 },
        ],
      })
      .catch((e: unknown) => e);
    // Assess
    expect(error).toMatchObject({ statusCode: 409, message: expect.stringMatching(message) });
  });

  it('refuses to mark a LOADING version ACTIVE by hand', async () => {
    // Act
    const error = await service.updateVersion('simple', '2', { status: 'ACTIVE' }).catch((e: unknown) => e);
    // Assess
    expect(error).toMatchObject({ statusCode: 409, message: expect.stringMatching(/only its warm-up/) });
  });
});
