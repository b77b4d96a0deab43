import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleServer, startConsole } from '../../local/console/server';
import { MultiModelMetrics, type MultiModelSummary } from '../../local/model-server/multi-model-metrics';

const DIMENSIONS = { EndpointName: 'inference-platform-triton', VariantName: 'AllTraffic' };

describe('the local console shows the multi-model endpoint metrics', () => {
  let console_: ConsoleServer;
  const metrics = new MultiModelMetrics();

  beforeAll(async () => {
    console_ = await startConsole({
      port: 0,
      // Never reached: these routes read no table.
      dynamodbUrl: 'http://127.0.0.1:9',
      registryTable: 'registry',
      batchTable: 'batch',
      output: { subscribe: () => () => undefined },
      multiModelMetrics: metrics,
    });
  });

  afterAll(async () => {
    await console_?.close();
  });

  it('serves the statistics of each metric per endpoint variant', async () => {
    metrics.record('ModelCacheHit', 0, DIMENSIONS);
    metrics.record('ModelCacheHit', 1, DIMENSIONS);
    metrics.record('ModelCacheHit', 1, DIMENSIONS);
    metrics.record('ModelLoadingWaitTime', 250_000, DIMENSIONS);
    metrics.record('LoadedModelCount', 1, DIMENSIONS);

    const response = await fetch(`${console_.url}/api/endpoint-metrics`);
    const summary = (await response.json()) as MultiModelSummary;

    expect(summary.namespace).toBe('AWS/SageMaker');
    expect(summary.variants).toHaveLength(1);
    const [variant] = summary.variants;
    expect(variant!.dimensions).toEqual(DIMENSIONS);
    expect(variant!.metrics.ModelCacheHit).toMatchObject({ sampleCount: 3, sum: 2, minimum: 0, maximum: 1 });
    expect(variant!.metrics.ModelCacheHit!.average).toBeCloseTo(2 / 3);
    expect(variant!.metrics.ModelLoadingWaitTime).toMatchObject({ unit: 'Microseconds', average: 250_000 });
    expect(variant!.metrics.LoadedModelCount).toMatchObject({ unit: 'None', maximum: 1 });
  });

  it('has a table for them on its page', async () => {
    const page = await (await fetch(console_.url)).text();
    expect(page).toContain('id="endpoint-metrics"');
    expect(page).toContain("getJson('/api/endpoint-metrics')");
  });
});
