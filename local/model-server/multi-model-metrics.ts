/**
 * The metrics a SageMaker multi-model endpoint publishes about its model cache, as the local
 * endpoint records them. SageMaker publishes them in the `AWS/SageMaker` namespace with the
 * dimensions `EndpointName` and `VariantName`, per endpoint variant and never per model, at a
 * one-minute frequency; the times are in microseconds
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/multi-model-endpoint-cloudwatch-metrics.html).
 */

export const MULTI_MODEL_NAMESPACE = 'AWS/SageMaker';

/** Each metric and its unit, as the SageMaker documentation defines them. */
export const MULTI_MODEL_METRICS = {
  /** How long an invocation waited for its model to be downloaded, loaded, or both. */
  ModelLoadingWaitTime: 'Microseconds',
  /** How long the download of a model from S3 took. */
  ModelDownloadingTime: 'Microseconds',
  /** How long the container took to load a model. */
  ModelLoadingTime: 'Microseconds',
  /** How long the container took to unload a model. */
  ModelUnloadingTime: 'Microseconds',
  /** 1 for an invocation whose model was loaded already, 0 otherwise: the Average is the hit ratio. */
  ModelCacheHit: 'None',
  /** The models loaded in the instance's container. */
  LoadedModelCount: 'None',
} as const;

export type MultiModelMetricName = keyof typeof MULTI_MODEL_METRICS;

export interface EndpointDimensions {
  readonly EndpointName: string;
  readonly VariantName: string;
}

export interface Datapoint {
  readonly at: number;
  readonly metric: MultiModelMetricName;
  readonly value: number;
  readonly dimensions: EndpointDimensions;
}

/** CloudWatch's statistics of one metric over a period. */
export interface Statistics {
  readonly sampleCount: number;
  readonly sum: number;
  readonly average: number;
  readonly minimum: number;
  readonly maximum: number;
}

export interface MultiModelSummary {
  readonly namespace: typeof MULTI_MODEL_NAMESPACE;
  readonly windowMs: number;
  /** One entry per endpoint variant that recorded anything in the window. */
  readonly variants: {
    readonly dimensions: EndpointDimensions;
    readonly metrics: Partial<Record<MultiModelMetricName, Statistics & { readonly unit: string }>>;
  }[];
}

/** The datapoints of the last minutes, bounded in number however long the server runs. */
export class MultiModelMetrics {
  private readonly points: Datapoint[] = [];

  constructor(
    private readonly maxPoints = 20_000,
    private readonly now: () => number = Date.now,
  ) {}

  record(metric: MultiModelMetricName, value: number, dimensions: EndpointDimensions): void {
    this.points.push({ at: this.now(), metric, value, dimensions });
    if (this.points.length > this.maxPoints) this.points.splice(0, this.points.length - this.maxPoints);
  }

  /** The datapoints recorded in the last `windowMs`, oldest first. */
  recent(windowMs: number): Datapoint[] {
    const since = this.now() - windowMs;
    return this.points.filter((p) => p.at >= since);
  }

  /** The statistics of each metric over the last `windowMs`, per endpoint variant. */
  summary(windowMs = 5 * 60_000): MultiModelSummary {
    const variants = new Map<
      string,
      { dimensions: EndpointDimensions; values: Map<MultiModelMetricName, number[]> }
    >();
    for (const point of this.recent(windowMs)) {
      const key = `${point.dimensions.EndpointName}\u0000${point.dimensions.VariantName}`;
      let variant = variants.get(key);
      if (!variant) {
        variant = { dimensions: point.dimensions, values: new Map() };
        variants.set(key, variant);
      }
      const values = variant.values.get(point.metric) ?? [];
      values.push(point.value);
      variant.values.set(point.metric, values);
    }
    return {
      namespace: MULTI_MODEL_NAMESPACE,
      windowMs,
      variants: [...variants.values()].map(({ dimensions, values }) => ({
        dimensions,
        metrics: Object.fromEntries(
          [...values].map(([metric, v]) => [metric, { unit: MULTI_MODEL_METRICS[metric], ...statistics(v) }]),
        ),
      })),
    };
  }
}

function statistics(values: readonly number[]): Statistics {
  const sum = values.reduce((s, v) => s + v, 0);
  return {
    sampleCount: values.length,
    sum,
    average: sum / values.length,
    minimum: Math.min(...values),
    maximum: Math.max(...values),
  };
}
