import { beforeAll, describe, expect, it } from 'vitest';
import { synthesizePlatform } from './platform-app';

/** Synthesizing the whole stack can outlast vitest's default hook timeout on a busy machine. */
const SYNTH_TIMEOUT_MS = 120_000;

/** A line that reads a metric (a math expression's line names none). */
const isMetric = (line: string[]) => line.length >= 2;

interface Graph {
  title: string;
  width: number;
  /** Each line as `[namespace, metric, dimension, value, ...]`, the options object left out. */
  lines: string[][];
  stats: string[];
}

/** The graphs of the stack's one dashboard, with each token written as `<token>`, and its endpoint. */
function graphs(overrides: Record<string, unknown> = {}): { graphs: Graph[]; endpointName: string } {
  const { template, stack } = synthesizePlatform(overrides);
  const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  const body = dashboard!.Properties.DashboardBody;
  const parts: unknown[] = typeof body === 'string' ? [body] : body['Fn::Join'][1];
  const text = parts.map((part) => (typeof part === 'string' ? part : '<token>')).join('');
  const widgets = JSON.parse(text).widgets as {
    width: number;
    properties: { title?: string; metrics?: unknown[][] };
  }[];
  const found = widgets
    .filter((w) => w.properties.metrics)
    .map((w) => {
      const rows = w.properties.metrics!;
      return {
        title: w.properties.title ?? '',
        width: w.width,
        lines: rows.map((row) => row.filter((x): x is string => typeof x === 'string')),
        stats: rows.map((row) => (row.at(-1) as { stat?: string }).stat ?? 'Average'),
      };
    });
  return { graphs: found, endpointName: stack.endpoint.endpointName };
}

describe('the dashboard rows of a multi-model endpoint', () => {
  let all: Graph[];
  let endpointName: string;
  const graph = (title: string) => {
    const found = all.find((g) => g.title === title);
    if (!found) throw new Error(`no graph titled ${title}: ${all.map((g) => g.title).join(', ')}`);
    return found;
  };
  /** The metrics a graph reads, with their namespaces and statistics. */
  const reads = (title: string) => {
    const g = graph(title);
    return g.lines
      .map((line, i) => ({ line, stat: g.stats[i] }))
      .filter(({ line }) => isMetric(line))
      .map(({ line, stat }) => `${line[0]} ${line[1]} ${stat}`);
  };

  beforeAll(() => {
    ({ graphs: all, endpointName } = graphs());
  }, SYNTH_TIMEOUT_MS);

  it('graphs load, download and unload times, cache hits and loaded models of the endpoint variant', () => {
    expect(reads('Model load time (ms)')).toEqual([
      'AWS/SageMaker ModelLoadingWaitTime Average',
      'AWS/SageMaker ModelLoadingWaitTime Maximum',
      'AWS/SageMaker ModelLoadingTime Average',
      'AWS/SageMaker ModelLoadingTime Maximum',
    ]);
    expect(reads('Model download and unload time (ms)')).toEqual([
      'AWS/SageMaker ModelDownloadingTime Average',
      'AWS/SageMaker ModelDownloadingTime Maximum',
      'AWS/SageMaker ModelUnloadingTime Average',
      'AWS/SageMaker ModelUnloadingTime Maximum',
    ]);
    expect(reads('Model cache hits')).toEqual([
      'AWS/SageMaker ModelCacheHit Sum',
      'AWS/SageMaker ModelCacheHit SampleCount',
      'AWS/SageMaker ModelCacheHit Average',
    ]);
    expect(reads('Loaded models')).toEqual([
      // An instance metric of multi-model endpoints (monitoring-cloudwatch.html, "Multi-Model Endpoint
      // Model Instance Metrics"), unlike the loading metrics.
      '/aws/sagemaker/Endpoints LoadedModelCount Average',
      '/aws/sagemaker/Endpoints LoadedModelCount Maximum',
    ]);
  });

  it('reads every one of them by endpoint and variant, the dimensions SageMaker publishes them with', () => {
    const titles = [
      'Model load time (ms)',
      'Model download and unload time (ms)',
      'Model cache hits',
      'Loaded models',
    ];
    const lines = titles.flatMap((t) => graph(t).lines.filter(isMetric));
    expect(lines.length).toBe(13);
    for (const line of lines) {
      expect(line.slice(2)).toEqual(['EndpointName', endpointName, 'VariantName', 'AllTraffic']);
    }
  });

  it('fills one 24-column row', () => {
    const widths = [
      'Model load time (ms)',
      'Model download and unload time (ms)',
      'Model cache hits',
      'Loaded models',
    ].map((t) => graph(t).width);
    expect(widths.reduce((a, b) => a + b, 0)).toBe(24);
  });

  it(
    'has no such rows for a single-model endpoint',
    () => {
      const titles = graphs({ servingMode: 'single-model' }).graphs.map((g) => g.title);
      expect(titles).not.toContain('Model cache hits');
      expect(titles).not.toContain('Loaded models');
    },
    SYNTH_TIMEOUT_MS,
  );
});
