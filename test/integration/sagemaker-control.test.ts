import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeEndpointStatus } from '../../functions/handlers/health/endpoint-status';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { lambdaContext, proxyEvent } from '../helpers/events';

describe('DescribeEndpoint on the local model server, as the health function sends it', () => {
  let server: ModelServer;
  const saved = { ...process.env };

  beforeAll(async () => {
    server = await startModelServer({ models: [], endpoints: { 'local-triton': {} } });
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_SAGEMAKER: server.url,
    });
  });

  afterAll(async () => {
    process.env = saved;
    await server?.close();
  });

  it('answers InService for an endpoint the server serves', async () => {
    expect(await describeEndpointStatus('local-triton')).toBe('InService');
  });

  it('answers the JSON 1.1 shape botocore describes, with epoch-second timestamps', async () => {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'SageMaker.DescribeEndpoint' },
      body: JSON.stringify({ EndpointName: 'local-triton' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      EndpointName: 'local-triton',
      EndpointArn: 'arn:aws:sagemaker:us-east-1:000000000000:endpoint/local-triton',
      EndpointStatus: 'InService',
      ProductionVariants: [expect.objectContaining({ VariantName: 'AllTraffic' })],
    });
    expect(Number.isInteger(body.CreationTime)).toBe(true);
  });

  it('refuses an endpoint it does not serve with ValidationException', async () => {
    await expect(describeEndpointStatus('elsewhere')).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'Could not find endpoint "elsewhere".',
    });
  });
});

describe('the health function against the local endpoint status', () => {
  let server: ModelServer;
  const saved = { ...process.env };

  beforeAll(async () => {
    server = await startModelServer({ models: [], endpoints: { 'local-triton': {} } });
    Object.assign(process.env, {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_SAGEMAKER: server.url,
    });
  });

  afterAll(async () => {
    process.env = saved;
    await server?.close();
  });

  /** The handler as a fresh container loads it, for the endpoint `endpointName`. */
  async function healthFunction(endpointName: string) {
    vi.resetModules();
    process.env.ENDPOINT_NAME = endpointName;
    const { handler } = await import('../../functions/handlers/health/handler');
    return (resource: string) =>
      handler(proxyEvent({ resource, path: resource }), lambdaContext('health')) as Promise<{
        statusCode: number;
        body: string;
      }>;
  }

  it('is ready while the endpoint is InService, and live without asking', async () => {
    const call = await healthFunction('local-triton');
    const ready = await call('/v2/health/ready');
    expect([ready.statusCode, JSON.parse(ready.body)]).toEqual([200, { ready: true }]);
    const live = await call('/v2/health/live');
    expect([live.statusCode, JSON.parse(live.body)]).toEqual([200, { live: true }]);
  });

  it('answers 503 with the status when it cannot read one', async () => {
    const call = await healthFunction('gone');
    const ready = await call('/v2/health/ready');
    expect([ready.statusCode, JSON.parse(ready.body)]).toEqual([
      503,
      { ready: false, endpointStatus: 'Unknown' },
    ]);
  });
});
