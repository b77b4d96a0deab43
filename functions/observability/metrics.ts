import { createHash } from 'node:crypto';
import { Metrics, type MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricName } from '../../contracts/metric-catalog';
import { logger } from './logger';

/**
 * EMF metrics in the namespace from POWERTOOLS_METRICS_NAMESPACE, with the function's
 * POWERTOOLS_SERVICE_NAME as the `service` dimension. Request metrics are stored here and flushed
 * once per invocation by the `logMetrics` middleware.
 */
// Its own warnings go through the function's logger: structured, and at the function's log level.
export const metrics = new Metrics({ logger });

/** CloudWatch's longest dimension value, in characters (API reference, `Dimension`). */
const MAX_DIMENSION_VALUE_LENGTH = 1024;
/** Hex digits of the hash that keeps a shortened value apart from others. */
const DIGEST_LENGTH = 16;

/**
 * `value` as CloudWatch takes a dimension value: printable ASCII, at most 1,024 characters (API
 * reference, `Dimension`). Any other value (a backend naming a long or non-ASCII target model, say)
 * keeps a readable prefix, with `?` for each character CloudWatch refuses, and ends in a hash of the
 * whole, so distinct values stay distinct.
 */
function dimensionValue(value: string): string {
  if (value.length <= MAX_DIMENSION_VALUE_LENGTH && /^[\x20-\x7e]*$/.test(value)) return value;
  const digest = createHash('sha256').update(value).digest('hex').slice(0, DIGEST_LENGTH);
  const readable = value
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, MAX_DIMENSION_VALUE_LENGTH - DIGEST_LENGTH - 1);
  return `${readable}#${digest}`;
}

/**
 * Publishes one metric at once under [service] and, given dimensions, [service, ...dimensions]: for
 * events that belong to no single request (a circuit opening, a batch chunk counted, a request the
 * authorizer refused), so they keep their own dimensions however the invocation's request metrics
 * are dimensioned.
 */
export function publishEvent(
  name: MetricName,
  unit: (typeof MetricUnit)[keyof typeof MetricUnit],
  value: number,
  dimensions: Record<string, string> = {},
): void {
  const single = metrics.singleMetric();
  // An empty set publishes the bare [service] aggregate, the one alarms can read.
  single.addDimensions({});
  if (Object.keys(dimensions).length > 0) {
    single.addDimensions(
      Object.fromEntries(Object.entries(dimensions).map(([name, value]) => [name, dimensionValue(value)])),
    );
  }
  single.addMetric(name, unit, value);
}
