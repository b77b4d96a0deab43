import { describe, expect, it, vi } from 'vitest';
import { lambdaContext, proxyEvent } from '../helpers/events';

const describeEndpointStatus = vi.fn(async (_name: string) => 'Updating');
vi.mock('../../functions/handlers/health/endpoint-status', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../functions/handlers/health/endpoint-status')>()),
  describeEndpointStatus: (name: string) => describeEndpointStatus(name),
}));

describe('health handler readiness', () => {
  it('answers 503 with the endpoint status while it is not InService, reading the named endpoint', async () => {
    process.env.ENDPOINT_NAME = 'triton-endpoint';
    const { handler } = await import('../../functions/handlers/health/handler');
    const result = (await handler(
      proxyEvent({ resource: '/v2/health/ready', path: '/v2/health/ready' }),
      lambdaContext('health'),
    )) as { statusCode: number; body: string };
    expect(result.statusCode).toBe(503);
    expect(JSON.parse(result.body)).toEqual({ ready: false, endpointStatus: 'Updating' });
    expect(describeEndpointStatus).toHaveBeenCalledWith('triton-endpoint');
  });
});
