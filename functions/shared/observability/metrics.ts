import { Metrics } from '@aws-lambda-powertools/metrics';

/** EMF metrics in the namespace from POWERTOOLS_METRICS_NAMESPACE. */
export const metrics = new Metrics();
