import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './logger';
import { metrics } from './metrics';
import { tracer } from './tracer';

/**
 * The Powertools instrumentation of every function that calls AWS: trace, context-aware logs, and,
 * for API functions, the request's EMF metrics flushed at the end of each invocation.
 */
export function instrument<E, R>(
  handler: (event: E, context: Context) => Promise<R>,
  options: {
    /**
     * Whether the invocation stores metrics to flush. Queue consumers publish events at once
     * (`publishEvent`) and store none, so flushing would only log "no metrics" every time.
     * @default true
     */
    readonly requestMetrics?: boolean;
  } = {},
) {
  const instrumented = middy(handler);
  if (tracer.instance) instrumented.use(captureLambdaHandler(tracer.instance));
  instrumented.use(injectLambdaContext(logger, { resetKeys: true }));
  return options.requestMetrics === false ? instrumented : instrumented.use(logMetrics(metrics));
}
