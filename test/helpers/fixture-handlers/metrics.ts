/**
 * A handler that emits Powertools metrics from one module-level Metrics instance, as the platform's
 * handlers do: concurrent invocations in one module instance would mix their dimensions.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

const metrics = new Metrics();

export async function handler(event: { model: string; delayMs: number }): Promise<void> {
  metrics.addDimension('model', event.model);
  await new Promise((resolve) => setTimeout(resolve, event.delayMs));
  metrics.addMetric('Requests', MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
