import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { emfOf } from '../helpers/emf';
import { lambdaContext, proxyEvent } from '../helpers/events';

// Metrics are disabled for the other tests; these read the EMF the handlers would print in Lambda.
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
process.env.POWERTOOLS_SERVICE_NAME = 'inference';
process.env.POWERTOOLS_METRICS_NAMESPACE = 'InferencePlatform';

let modules: {
  apiHandler: typeof import('../../functions/edge/api-handler').apiHandler;
  instrument: typeof import('../../functions/observability/instrument').instrument;
  publishEvent: typeof import('../../functions/observability/metrics').publishEvent;
  errors: typeof import('../../functions/edge/errors');
};

beforeAll(async () => {
  vi.resetModules();
  modules = {
    apiHandler: (await import('../../functions/edge/api-handler')).apiHandler,
    instrument: (await import('../../functions/observability/instrument')).instrument,
    publishEvent: (await import('../../functions/observability/metrics')).publishEvent,
    errors: await import('../../functions/edge/errors'),
  };
});

afterEach(() => vi.restoreAllMocks());

const event = proxyEvent({
  resource: '/v2/models/{model}/infer',
  path: '/v2/models/iris/infer',
  httpMethod: 'POST',
  pathParameters: { model: 'iris' },
});

function handlerFor(route: Parameters<typeof modules.apiHandler>[0], allowed = true) {
  return modules.instrument(
    modules.apiHandler(route, {
      errorStyle: 'inference',
      allowedOrigins: ['*'],
      rateLimiter: {
        consume: async () => ({
          allowed,
          limit: 1,
          remaining: 0,
          resetEpochSeconds: 0,
          retryAfterSeconds: 1,
        }),
      },
    }),
  );
}

describe('request metrics', () => {
  it('count a served request by outcome and by the registered model version', async () => {
    const handler = handlerFor(async ({ servedBy }) => {
      servedBy('iris', '3');
      return { statusCode: 200, body: '{}' };
    });
    const [doc, ...rest] = await emfOf(() => handler(event, lambdaContext()));
    expect(rest).toEqual([]);
    const [directive] = doc!._aws.CloudWatchMetrics;
    expect(directive!.Namespace).toBe('InferencePlatform');
    expect(directive!.Dimensions).toEqual([
      ['service', 'outcome'],
      ['service', 'model', 'version'],
    ]);
    expect(directive!.Metrics.map((m) => m.Name).sort()).toEqual(['Latency', 'Requests', 'ServerErrors']);
    expect(doc).toMatchObject({ service: 'inference', outcome: 'success', model: 'iris', version: '3' });
    expect(doc).toMatchObject({ Requests: 1, ServerErrors: 0 });
    expect(doc!.Latency).toBeGreaterThanOrEqual(0);
  });

  it('count a failed request as a server error without a model when none served it', async () => {
    const handler = handlerFor(async () => {
      throw new modules.errors.BackendError('the endpoint failed');
    });
    const [doc] = await emfOf(() => handler(event, lambdaContext()));
    expect(doc!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'outcome']]);
    expect(doc).toMatchObject({ outcome: 'server_error', Requests: 1, ServerErrors: 1 });
    expect(doc).not.toHaveProperty('model');
  });

  it('count an answer too large to return as a server error, answered 502 RESPONSE_TOO_LARGE instead', async () => {
    const handler = handlerFor(async () => ({ statusCode: 200, body: 'x'.repeat(6 * 1024 * 1024) }));
    let answer: { statusCode: number; body: string } | undefined;
    const [doc] = await emfOf(async () => {
      answer = (await handler(event, lambdaContext())) as typeof answer;
    });
    expect(answer!.statusCode).toBe(502);
    expect(answer!.body).toMatch(/RESPONSE_TOO_LARGE|over the 6 MiB an API answer may carry/);
    expect(Buffer.byteLength(answer!.body)).toBeLessThan(1024);
    expect(doc).toMatchObject({ outcome: 'server_error', ServerErrors: 1 });
  });

  it('count a request the rate limit refused', async () => {
    const handler = handlerFor(async () => ({ statusCode: 200, body: '{}' }), false);
    const [doc] = await emfOf(() => handler(event, lambdaContext()));
    expect(doc).toMatchObject({ outcome: 'rate_limited', RateLimited: 1, Requests: 1, ServerErrors: 0 });
  });

  it('start each invocation without the previous one’s dimensions', async () => {
    const served = handlerFor(async ({ servedBy }) => {
      servedBy('iris', '1');
      return { statusCode: 200, body: '{}' };
    });
    const notFound = handlerFor(async () => {
      throw new modules.errors.NotFoundError('no such model');
    });
    const docs = await emfOf(async () => {
      await served(event, lambdaContext());
      await notFound(event, lambdaContext());
    });
    expect(docs[1]).toMatchObject({ outcome: 'client_error' });
    expect(docs[1]!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'outcome']]);
  });
});

describe('events', () => {
  it('are published at once under the bare service and their own dimensions', async () => {
    const [doc] = await emfOf(() =>
      modules.publishEvent('CircuitOpened', 'Count', 1, { backend: 'ep||iris' }),
    );
    expect(doc!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service'], ['service', 'backend']]);
    expect(doc).toMatchObject({ service: 'inference', backend: 'ep||iris', CircuitOpened: 1 });
  });

  it('keep a dimension value within what CloudWatch takes: 1,024 printable ASCII characters, distinct values apart', async () => {
    // A backend whose target model is as long as the registry allows (1,024 characters).
    const prefix = `endpoint|AllTraffic|models/${'a'.repeat(1000)}`;
    const backends = [`${prefix}-1.tar.gz`, `${prefix}-2.tar.gz`, 'endpoint||modèle.tar.gz'];
    const docs = await emfOf(() => {
      for (const backend of backends) modules.publishEvent('CircuitOpened', 'Count', 1, { backend });
    });
    const values = docs.map((doc) => doc.backend as string);
    expect(values).toHaveLength(3);
    for (const value of values) {
      expect(value.length).toBeLessThanOrEqual(1024);
      expect(value).toMatch(/^[\x20-\x7e]+$/);
    }
    expect(values[0]!.startsWith(prefix.slice(0, 1000))).toBe(true);
    expect(values[0]).not.toBe(values[1]);
    expect(values[2]).toMatch(/^endpoint\|\|mod\?le\.tar\.gz#[0-9a-f]{16}$/);
  });
});
