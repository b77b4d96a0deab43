import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  InvokeEndpointCommand,
  ModelError,
  SageMakerRuntimeClient,
  ServiceUnavailable,
} from '@aws-sdk/client-sagemaker-runtime';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { INFERENCE_FUNCTION_ENV, lambdaContext, proxyEvent } from '../helpers/events';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const dynamodb = mockClient(DynamoDBClient);
const sagemaker = mockClient(SageMakerRuntimeClient);

const simple = (version: string, status: ModelVersion['status'] = 'ACTIVE'): ModelVersion => ({
  name: 'simple',
  version,
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: `triton-v${version}`, targetModel: 'simple', weight: 100 }],
  status,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
});
const partition = [
  { pk: 'MODEL#simple', sk: '#MODEL', name: 'simple', createdAt: '2026-01-01T00:00:00Z' },
  { pk: 'MODEL#simple', sk: 'VERSION#1', ...simple('1') },
  { pk: 'MODEL#simple', sk: 'VERSION#2', ...simple('2') },
  { pk: 'MODEL#simple', sk: 'VERSION#3', ...simple('3', 'DISABLED') },
  {
    pk: 'MODEL#simple',
    sk: 'ALIAS#canary',
    name: 'simple',
    alias: 'canary',
    routes: [
      { version: '1', weight: 50 },
      { version: '2', weight: 50 },
    ],
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
  },
].map((item) => marshall(item));

const ones = Array.from({ length: 16 }, () => 1);
const validBody = {
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ones },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ones },
  ],
};

/** An inference event for the simple model, or the one named. */
function inferEvent(
  body: unknown,
  options: { version?: string; requestId?: string; model?: string; sub?: string } = {},
) {
  const model = options.model ?? 'simple';
  const { version } = options;
  return proxyEvent({
    resource: version ? '/v2/models/{model}/versions/{version}/infer' : '/v2/models/{model}/infer',
    path: `/v2/models/${model}${version ? `/versions/${version}` : ''}/infer`,
    httpMethod: 'POST',
    pathParameters: version ? { model, version } : { model },
    body,
    headers: options.requestId ? { 'X-Request-Id': options.requestId } : {},
    // The limiter's leases live in the container: a principal of its own starts with none.
    ...(options.sub
      ? {
          authorizer: {
            sub: options.sub,
            scopes: 'inference:invoke',
            tier: 'standard',
            exp: String(Math.floor(Date.now() / 1000) + 3600),
          },
        }
      : {}),
  });
}

let handler: (
  event: APIGatewayProxyEvent,
  context: ReturnType<typeof lambdaContext>,
) => Promise<APIGatewayProxyResult>;
let modelCache: { invalidate(name: string): void };

describe('inference handler', () => {
  beforeAll(async () => {
    Object.assign(process.env, INFERENCE_FUNCTION_ENV);
    ({ handler } = await import('../../functions/handlers/inference/handler'));
    ({ modelCache } = await import('../../functions/edge/api-runtime'));
  });

  beforeEach(() => {
    // Prepare
    modelCache.invalidate('simple');
    dynamodb.reset();
    sagemaker.reset();
    dynamodb.on(QueryCommand).resolves({ Items: partition });
    dynamodb.on(GetItemCommand).resolves({});
    dynamodb.on(UpdateItemCommand).resolves({ Attributes: { count: { N: '1' } } });
    sagemaker.on(InvokeEndpointCommand).resolves({
      Body: new TextEncoder().encode(JSON.stringify({ model_name: 'triton-name', outputs: [] })) as never,
      ContentType: 'application/json',
    });
  });

  it('sends a valid request to the latest active version and names it in the response', async () => {
    // Act
    const result = await handler(inferEvent(validBody), lambdaContext());
    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers).toMatchObject({
      'X-Model-Version': '2',
      'X-Request-Id': 'gateway-request-id',
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '99',
    });
    expect(JSON.parse(result.body)).toEqual({ model_name: 'simple', model_version: '2', outputs: [] });
    const call = sagemaker.commandCalls(InvokeEndpointCommand)[0]!.args[0].input;
    expect(call).toMatchObject({
      EndpointName: 'triton-v2',
      TargetModel: 'simple',
      ContentType: 'application/json',
    });
  });

  it('reads the registry once and leases the rate limit, not a write per request, within the cache TTL', async () => {
    // Act: the clock stands still half way through a 60 s window, so that neither the pace a busy
    // machine runs the requests at nor a window's end sizes the leases.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-01-01T00:00:30.000Z') });
    try {
      for (let i = 0; i < 5; i++) await handler(inferEvent(validBody, { sub: 'repeat' }), lambdaContext());
    } finally {
      vi.useRealTimers();
    }
    // Assess: one Query in all; a first lease of one request (no pace known yet), then one sized to
    // the container's pace, which covers the other four
    expect(dynamodb.commandCalls(QueryCommand)).toHaveLength(1);
    expect(dynamodb.commandCalls(UpdateItemCommand)).toHaveLength(2);
  });

  it('routes an alias by weight and routes the same request id the same way', async () => {
    // Act
    const versions = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const result = await handler(
        inferEvent(validBody, { version: 'canary', requestId: `req-${i}` }),
        lambdaContext(),
      );
      versions.add(String(result.headers?.['X-Model-Version']));
    }
    const again = await Promise.all(
      [1, 2, 3].map(() =>
        handler(inferEvent(validBody, { version: 'canary', requestId: 'req-7' }), lambdaContext()),
      ),
    );
    // Assess
    expect(versions).toEqual(new Set(['1', '2']));
    expect(new Set(again.map((r) => r.headers?.['X-Model-Version'])).size).toBe(1);
  });

  it.each([
    ['the model does not exist', { model: 'missing' }, "model 'missing' is not found"],
    ['the version does not exist', { version: '9' }, "model 'simple' has no version '9'"],
    ['the version is disabled', { version: '3' }, "model 'simple' has no version '3'"],
    ['the alias does not exist', { version: 'prod' }, "model 'simple' has no version or alias 'prod'"],
  ])('returns 404 when %s', async (_case, options, message) => {
    if ('model' in options) dynamodb.on(QueryCommand).resolves({ Items: [] });
    const result = await handler(inferEvent(validBody, options), lambdaContext());
    expect(result.statusCode).toBe(404);
    expect(JSON.parse(result.body)).toEqual({ error: message });
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it.each([
    [
      'a wrong shape',
      { inputs: [{ ...validBody.inputs[0], shape: [1, 8], data: ones.slice(0, 8) }, validBody.inputs[1]] },
    ],
    ['a wrong datatype', { inputs: [{ ...validBody.inputs[0], datatype: 'FP32' }, validBody.inputs[1]] }],
    ['a missing input', { inputs: [validBody.inputs[0]] }],
    ['malformed JSON', '{"inputs":'],
    ['an empty body', undefined],
    [
      'a batch above max_batch_size',
      { inputs: validBody.inputs.map((i) => ({ ...i, shape: [9, 16], data: Array(9 * 16).fill(1) })) },
    ],
  ])('returns 400 for %s without calling the backend', async (_case, body) => {
    const result = await handler(inferEvent(body), lambdaContext());
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body)).toEqual({ error: expect.any(String) });
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it('returns 429 with Retry-After and rate-limit headers when the principal is over its limit', async () => {
    dynamodb
      .on(UpdateItemCommand)
      .rejects(new ConditionalCheckFailedException({ message: 'over', $metadata: {} }));
    const result = await handler(inferEvent(validBody, { sub: 'over-limit' }), lambdaContext());
    expect(result.statusCode).toBe(429);
    expect(result.headers).toMatchObject({ 'X-RateLimit-Remaining': '0', 'Retry-After': expect.any(String) });
    expect(JSON.parse(result.body)).toEqual({ error: expect.stringContaining('rate limit') });
    expect(sagemaker.calls()).toHaveLength(0);
  });

  it('adds CORS headers for an allowed origin only', async () => {
    const allowed = inferEvent(validBody);
    allowed.headers.Origin = 'https://app.example.com';
    const other = inferEvent(validBody);
    other.headers.Origin = 'https://evil.example.com';
    expect((await handler(allowed, lambdaContext())).headers).toMatchObject({
      'Access-Control-Allow-Origin': 'https://app.example.com',
    });
    expect((await handler(other, lambdaContext())).headers).not.toHaveProperty('Access-Control-Allow-Origin');
  });

  it('returns 502 with the model message when the model rejects the request', async () => {
    sagemaker.on(InvokeEndpointCommand).rejects(
      new ModelError({
        message: 'Received client error (400)',
        $metadata: {},
        OriginalMessage: '{"error":"bad tensor"}',
      }),
    );
    const result = await handler(inferEvent(validBody), lambdaContext());
    expect(result.statusCode).toBe(502);
    expect(JSON.parse(result.body).error).toContain('bad tensor');
  });

  it('returns 503 with Retry-After when the endpoint is unavailable', async () => {
    sagemaker.on(InvokeEndpointCommand).rejects(new ServiceUnavailable({ message: 'busy', $metadata: {} }));
    const result = await handler(inferEvent(validBody), lambdaContext());
    expect(result.statusCode).toBe(503);
    expect(result.headers).toMatchObject({ 'Retry-After': '1' });
  });

  it('returns 504 when the endpoint times out', async () => {
    sagemaker
      .on(InvokeEndpointCommand)
      .rejects(Object.assign(new Error('socket timeout'), { name: 'TimeoutError' }));
    const result = await handler(inferEvent(validBody), lambdaContext());
    expect(result.statusCode).toBe(504);
  });

  it('returns 500 with a generic body when the registry fails', async () => {
    dynamodb.on(QueryCommand).rejects(new Error('connection reset by 10.0.0.1'));
    const result = await handler(inferEvent(validBody), lambdaContext());
    expect(result.statusCode).toBe(500);
    expect(result.body).not.toContain('10.0.0.1');
  });

  it('returns model metadata listing the active versions', async () => {
    const event = proxyEvent({
      resource: '/v2/models/{model}',
      path: '/v2/models/simple',
      pathParameters: { model: 'simple' },
    });
    const result = await handler(event, lambdaContext());
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toEqual({
      name: 'simple',
      versions: ['1', '2'],
      platform: 'onnxruntime_onnx',
      inputs: SIMPLE_SIGNATURE.inputs,
      outputs: SIMPLE_SIGNATURE.outputs,
    });
  });

  // Triton's model configuration extension (docs/protocol/extension_model_configuration.md): the
  // ModelConfig JSON, here as far as the registry knows the version.
  it.each([
    ['the latest active version', '/v2/models/{model}/config', { model: 'simple' }, '2'],
    [
      'a named version',
      '/v2/models/{model}/versions/{version}/config',
      { model: 'simple', version: '1' },
      '1',
    ],
  ])('returns the model configuration of %s', async (_case, resource, pathParameters, served) => {
    const event = proxyEvent({ resource, path: resource, pathParameters });

    const result = await handler(event, lambdaContext());

    expect(result.statusCode).toBe(200);
    expect(result.headers?.['X-Model-Version']).toBe(served);
    expect(JSON.parse(result.body)).toEqual({
      name: 'simple',
      platform: 'onnxruntime_onnx',
      max_batch_size: 8,
      input: [
        { name: 'INPUT0', data_type: 'TYPE_INT32', dims: [16] },
        { name: 'INPUT1', data_type: 'TYPE_INT32', dims: [16] },
      ],
      output: [
        { name: 'OUTPUT0', data_type: 'TYPE_INT32', dims: [16] },
        { name: 'OUTPUT1', data_type: 'TYPE_INT32', dims: [16] },
      ],
    });
  });

  it('passes a classification request on and returns its BYTES answer', async () => {
    const answer = {
      model_name: 'simple',
      outputs: [{ name: 'OUTPUT0', datatype: 'BYTES', shape: [1, 1], data: ['2:0'] }],
    };
    sagemaker.on(InvokeEndpointCommand).resolves({
      Body: new TextEncoder().encode(JSON.stringify(answer)) as never,
      ContentType: 'application/json',
    });
    const body = { ...validBody, outputs: [{ name: 'OUTPUT0', parameters: { classification: 1 } }] };

    const result = await handler(inferEvent(JSON.stringify(body)), lambdaContext());

    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body).outputs).toEqual(answer.outputs);
    const sent = JSON.parse(
      new TextDecoder().decode(
        sagemaker.commandCalls(InvokeEndpointCommand)[0]!.args[0].input.Body as Uint8Array,
      ),
    );
    expect(sent.outputs).toEqual(body.outputs);
  });
});
