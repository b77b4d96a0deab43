import { beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaContext, proxyEvent } from '../helpers/events';

const describeEndpointStatus = vi.fn(async (_name: string) => 'Updating');
vi.mock('../../functions/handlers/health/endpoint-status', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../functions/handlers/health/endpoint-status')>()),
  describeEndpointStatus: (name: string) => describeEndpointStatus(name),
}));

/** The readiness answer for one endpoint status, from a fresh container (the status is cached per container). */
async function readinessWhen(status: string): Promise<{ statusCode: number; body: unknown }> {
  describeEndpointStatus.mockResolvedValue(status);
  vi.resetModules();
  const { handler } = await import('../../functions/handlers/health/handler');
  const result = (await handler(
    proxyEvent({ resource: '/v2/health/ready', path: '/v2/health/ready' }),
    lambdaContext('health'),
  )) as { statusCode: number; body: string };
  return { statusCode: result.statusCode, body: JSON.parse(result.body) };
}

describe('health handler readiness', () => {
  beforeEach(() => {
    process.env.ENDPOINT_NAME = 'triton-endpoint';
    describeEndpointStatus.mockClear();
  });

  it('is ready when the named endpoint is InService', async () => {
    expect(await readinessWhen('InService')).toEqual({ statusCode: 200, body: { ready: true } });
    expect(describeEndpointStatus).toHaveBeenCalledWith('triton-endpoint');
  });

  // An update, a scaling change, maintenance and rollbacks keep serving invocations (botocore's
  // EndpointStatus documentation): a probe must not take the platform out of rotation for them.
  it.each(['Updating', 'SystemUpdating', 'RollingBack', 'UpdateRollbackFailed'])(
    'is ready while the endpoint is %s, and names the status',
    async (status) => {
      expect(await readinessWhen(status)).toEqual({
        statusCode: 200,
        body: { ready: true, endpointStatus: status },
      });
    },
  );

  it.each(['Creating', 'OutOfService', 'Deleting', 'Failed'])(
    'answers 503 naming the status while the endpoint is %s',
    async (status) => {
      expect(await readinessWhen(status)).toEqual({
        statusCode: 503,
        body: { ready: false, endpointStatus: status },
      });
    },
  );
});
