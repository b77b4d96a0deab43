import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  InvokeEndpointCommand,
  ModelError,
  SageMakerRuntimeClient,
  ServiceUnavailable,
} from '@aws-sdk/client-sagemaker-runtime';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModelVersion } from '../../functions/shared/registry';
import { lambdaContext, proxyEvent } from '../helpers/events';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const dynamodb = mockClient(DynamoDBClient);
const sagemaker = mockClient(SageMakerRuntimeClient);

const simple: ModelVersion = {
  name: 'simple',
  version: '1',
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: 'triton', targetModel: 'simple', weight: 100 }],
  status: 'ACTIVE',
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
};
const item = (v: ModelVersion) => marshall({ pk: `MODEL#${v.name}`, sk: `VERSION#${v.version}`, ...v });
const ones = Array.from({ length: 16 }, () => 1);
const validBody = {
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ones },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ones },
  ],
};
const inferEvent = (body: unknown, version?: string) =>
  proxyEvent({
    resource: version ? '/v2/models/{model}/versions/{version}/infer' : '/v2/models/{model}/infer',
    path: version ? `/v2/models/simple/versions/${version}/infer` : '/v2/models/simple/infer',
    httpMethod: 'POST',
    pathParameters: version ? { model: 'simple', version } : { model: 'simple' },
    body,
  });

let handler: (
  event: APIGatewayProxyEvent,
  context: ReturnType<typeof lambdaContext>,
) => Promise<APIGatewayProxyResult>;

describe('inference handler', () => {
  beforeAll(async () => {
    process.env.REGISTRY_TABLE_NAME = 'registry';
    process.env.AWS_REGION = 'us-east-1';
    process.env.POWERTOOLS_METRICS_NAMESPACE = 'Test';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
    ({ handler } = await import('../../functions/inference/handler'));
  });

  beforeEach(() => {
    // Prepare
    dynamodb.reset();
    sagemaker.reset();
    dynamodb
      .on(QueryCommand)
      .resolves({ Items: [item(simple), item({ ...simple, version: '2', status: 'DISABLED' })] });
    dynamodb.on(GetItemCommand).resolves({});
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
    expect(result.headers).toMatchObject({ 'X-Model-Version': '1', 'X-Request-Id': 'gateway-request-id' });
    expect(JSON.parse(result.body)).toEqual({ model_name: 'simple', model_version: '1', outputs: [] });
    const call = sagemaker.commandCalls(InvokeEndpointCommand)[0]!.args[0].input;
    expect(call).toMatchObject({
      EndpointName: 'triton',
      TargetModel: 'simple',
      ContentType: 'application/json',
    });
    expect(dynamodb.calls()).toHaveLength(1);
  });

  it('returns 404 when the model does not exist', async () => {
    dynamodb.on(QueryCommand).resolves({ Items: [] });
    const result = await handler(inferEvent(validBody), lambdaContext());
    expect(result.statusCode).toBe(404);
    expect(JSON.parse(result.body)).toEqual({ error: "model 'simple' is not found" });
  });

  it('returns 404 when the named version does not exist', async () => {
    const result = await handler(inferEvent(validBody, '9'), lambdaContext());
    expect(result.statusCode).toBe(404);
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
      {
        inputs: validBody.inputs.map((i) => ({ ...i, shape: [9, 16], data: Array(9 * 16).fill(1) })),
      },
    ],
  ])('returns 400 for %s without calling the backend', async (_case, body) => {
    const result = await handler(inferEvent(body), lambdaContext());
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body)).toEqual({ error: expect.any(String) });
    expect(sagemaker.calls()).toHaveLength(0);
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

  it('returns model metadata for GET /v2/models/{model}/versions/{version}', async () => {
    dynamodb.on(GetItemCommand).resolves({ Item: item(simple) });
    const event = proxyEvent({
      resource: '/v2/models/{model}/versions/{version}',
      path: '/v2/models/simple/versions/1',
      pathParameters: { model: 'simple', version: '1' },
    });
    const result = await handler(event, lambdaContext());
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toEqual({
      name: 'simple',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: SIMPLE_SIGNATURE.inputs,
      outputs: SIMPLE_SIGNATURE.outputs,
    });
  });
});
