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
  if (Object.keys(dimensions).length > 0) single.addDimensions(dimensions);
  single.addMetric(name, unit, value);
}
