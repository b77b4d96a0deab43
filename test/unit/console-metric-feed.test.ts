import { describe, expect, it } from 'vitest';
import { METRIC, METRICS_NAMESPACE, SERVICE_NAMES } from '../../contracts/metric-catalog';
import { MetricFeed, percentile } from '../../local/console/metric-feed';

const T0 = 1_795_680_000_000;
/** The clock of the feed under test; records are stamped with it unless a test says otherwise. */
let clock = T0;

/** An EMF line as Powertools Metrics prints it. */
function emf(
  values: Record<string, number | number[]>,
  properties: Record<string, string> = {},
  options: { timestamp?: number; namespace?: string } = {},
): string {
  return JSON.stringify({
    _aws: {
      Timestamp: options.timestamp ?? clock,
      CloudWatchMetrics: [
        {
          Namespace: options.namespace ?? METRICS_NAMESPACE,
          Dimensions: [Object.keys(properties)],
          Metrics: Object.keys(values).map((Name) => ({ Name, Unit: 'Count' })),
        },
      ],
    },
    ...properties,
    ...values,
  });
}

function setup(options: { bucketMs?: number; windowMs?: number; maxSamples?: number } = {}) {
  clock = T0;
  const feed = new MetricFeed({ bucketMs: 1000, windowMs: 10_000, ...options, now: () => clock });
  const push = (line: string, functionName = 'inference') => feed.ingest({ functionName, line, at: clock });
  return {
    feed,
    push,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

const request = (outcome: string, latency: number, service: string = SERVICE_NAMES.inference) =>
  emf(
    {
      [METRIC.requests]: 1,
      [METRIC.latency]: latency,
      [METRIC.serverErrors]: outcome === 'server_error' ? 1 : 0,
    },
    { service, outcome },
  );

describe('MetricFeed', () => {
  it('counts requests by outcome, per service and overall, in the bucket of their timestamp', () => {
    // Arrange
    const { feed, push } = setup();

    // Act
    push(request('success', 10));
    push(request('success', 20));
    push(request('client_error', 5));
    push(request('server_error', 30));
    push(
      emf(
        { [METRIC.requests]: 1, [METRIC.rateLimited]: 1 },
        { service: 'inference', outcome: 'rate_limited' },
      ),
    );
    push(request('success', 7, SERVICE_NAMES.models), 'models');

    // Assess
    const series = feed.series();
    expect(series.times).toHaveLength(10);
    expect(series.times.at(-1)).toBe(T0);
    expect(series.overall.requests.at(-1)).toBe(6);
    expect(series.overall.requests.slice(0, -1).every((n) => n === 0)).toBe(true);
    expect(series.services.inference?.requests.at(-1)).toBe(5);
    expect(series.services.models?.requests.at(-1)).toBe(1);
    expect(series.totals).toMatchObject({
      requests: 6,
      success: 3,
      clientErrors: 1,
      serverErrors: 1,
      rateLimited: 1,
    });
  });

  it('computes latency p50 and p99 per bucket and over the window', () => {
    // Arrange
    const { feed, push, advance } = setup();

    // Act
    for (let ms = 1; ms <= 100; ms++) push(request('success', ms));
    advance(1000);
    push(request('success', 500));

    // Assess
    const series = feed.series();
    expect(series.overall.latencyP50.slice(-2)).toEqual([50, 500]);
    expect(series.overall.latencyP99.slice(-2)).toEqual([99, 500]);
    expect(series.overall.latencyP50[0]).toBeNull();
    expect(series.totals.latencyP50).toBe(51);
    expect(series.totals.latencyP99).toBe(100);
  });

  it('takes metric values given as arrays, several values in one flush', () => {
    // Arrange
    const { feed, push } = setup();

    // Act
    push(
      emf(
        { [METRIC.requests]: [1, 1, 1], [METRIC.latency]: [3, 1, 2], [METRIC.serverErrors]: [0, 0, 0] },
        { service: 'inference', outcome: 'success' },
      ),
    );
    push(
      emf(
        { [METRIC.batchItemsSucceeded]: [10, 6], [METRIC.batchItemsFailed]: 2 },
        { service: SERVICE_NAMES.batchWorker, model: 'simple' },
      ),
      'batch-worker',
    );

    // Assess
    const { totals, services } = feed.series();
    expect(totals).toMatchObject({ requests: 3, success: 3, batchItemsSucceeded: 16, batchItemsFailed: 2 });
    expect(totals.latencyP50).toBe(2);
    expect(services['batch-worker']?.batchItemsSucceeded.at(-1)).toBe(16);
  });

  it('evicts buckets older than the window and keeps a bounded ring', () => {
    // Arrange
    const { feed, push, advance } = setup({ bucketMs: 1000, windowMs: 5000 });
    push(request('success', 1));
    advance(2000);
    push(request('server_error', 1));

    // Act: the first bucket leaves the window, the second is still in it
    advance(3500);
    const later = feed.series();
    advance(10_000);
    push(request('success', 1));
    const muchLater = feed.series();

    // Assess
    expect(later.times).toHaveLength(5);
    expect(later.totals).toMatchObject({ requests: 1, serverErrors: 1 });
    expect(muchLater.totals).toMatchObject({ requests: 1, serverErrors: 0, success: 1 });
    expect(muchLater.overall.requests).toEqual([0, 0, 0, 0, 1]);
  });

  it('drops records older than the window and counts a future timestamp as now', () => {
    // Arrange
    const { feed, push } = setup();

    // Act
    push(
      emf({ [METRIC.requests]: 1 }, { service: 'inference', outcome: 'success' }, { timestamp: T0 - 60_000 }),
    );
    push(
      emf({ [METRIC.requests]: 1 }, { service: 'inference', outcome: 'success' }, { timestamp: T0 + 60_000 }),
    );

    // Assess
    expect(feed.series().overall.requests.at(-1)).toBe(1);
    expect(feed.series().totals.requests).toBe(1);
  });

  it('ignores lines that are not EMF records of the platform namespace', () => {
    // Arrange
    const { feed, push } = setup();

    // Act
    push('not json at all');
    push('{"level":"INFO","message":"hello"}');
    push('{"_aws": {"Timestamp": 1, "CloudWatchMetrics": "nope"}}');
    push('{"_aws": truncated');
    push(emf({ [METRIC.requests]: 1 }, { service: 'x', outcome: 'success' }, { namespace: 'Other' }));
    push(emf({ [METRIC.requests]: Number.NaN as number, [METRIC.latency]: [1, 'x' as never] }));
    push('[1, 2, 3]');

    // Assess
    const series = feed.series();
    expect(series.totals.requests).toBe(0);
    expect(series.totals.latencyP50).toBe(1);
    expect(series.ignored).toBe(3);
  });

  it('uses a pre-parsed record from the bus and falls back to the function name as service', () => {
    // Arrange
    const { feed } = setup();
    const record = JSON.parse(emf({ [METRIC.requests]: 2 })) as Record<string, unknown>;

    // Act
    feed.ingest({ functionName: 'health', line: '', at: T0, emf: record });

    // Assess
    expect(feed.series().services.health?.requests.at(-1)).toBe(2);
  });

  it('keeps at most maxSamples latencies per bucket and service', () => {
    // Arrange
    const { feed, push } = setup({ maxSamples: 10 });

    // Act
    for (let i = 0; i < 1000; i++) push(request('success', 5));

    // Assess
    const series = feed.series();
    expect(series.totals.requests).toBe(1000);
    expect(series.totals.latencyP99).toBe(5);
  });

  it('unsubscribes from the bus it was attached to', () => {
    // Arrange
    const { feed } = setup();
    const listeners = new Set<(line: { functionName: string; line: string; at: number }) => void>();
    const bus = {
      subscribe(listener: (line: { functionName: string; line: string; at: number }) => void) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };

    // Act
    const detach = feed.attach(bus);
    for (const listener of listeners)
      listener({ functionName: 'inference', line: request('success', 1), at: T0 });
    detach();

    // Assess
    expect(listeners.size).toBe(0);
    expect(feed.series().totals.requests).toBe(1);
  });
});

describe('percentile', () => {
  it('is the nearest rank', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
  });
});
