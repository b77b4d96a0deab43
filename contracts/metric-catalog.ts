/**
 * Every custom metric the platform emits, in one place: the handlers emit them through Powertools
 * (EMF), and the stack's dashboard and alarms and the local console read the same names. All live
 * in one namespace; every metric carries the `service` dimension, which is the emitting function's
 * service name (SERVICE_NAMES), plus the dimension sets listed here.
 */
export const METRICS_NAMESPACE = 'InferencePlatform';

/** POWERTOOLS_SERVICE_NAME of each function: the `service` key on its log lines and metrics. */
export const SERVICE_NAMES = {
  health: 'health',
  inference: 'inference',
  models: 'models',
  batch: 'batch-api',
  authorizer: 'authorizer',
  batchFanOut: 'batch-fan-out',
  batchWorker: 'batch-worker',
  batchDeadLetters: 'batch-dead-letters',
  modelWarmup: 'model-warmup',
} as const;

export type ServiceName = (typeof SERVICE_NAMES)[keyof typeof SERVICE_NAMES];

/**
 * The services that count batch chunks into their jobs (functions/batch/accounting.ts), and so
 * publish `BatchItemsSucceeded` and `BatchItemsFailed`: the worker; the dead-letter consumer, for
 * the chunks no worker recorded; and the fan-out, for the unstarted chunks of a cancelled job and
 * the unrecorded chunks of a stalled one.
 */
export const CHUNK_COUNTING_SERVICES = [
  SERVICE_NAMES.batchWorker,
  SERVICE_NAMES.batchDeadLetters,
  SERVICE_NAMES.batchFanOut,
] as const;

/** How an API request ended; the `outcome` dimension of the request metrics. */
export const REQUEST_OUTCOMES = ['success', 'client_error', 'rate_limited', 'server_error'] as const;
export type RequestOutcome = (typeof REQUEST_OUTCOMES)[number];

export function outcomeOf(statusCode: number): RequestOutcome {
  if (statusCode === 429) return 'rate_limited';
  if (statusCode >= 500) return 'server_error';
  if (statusCode >= 400) return 'client_error';
  return 'success';
}

export const METRIC = {
  /**
   * One per API request (inference, models and batch-api functions). Dimension sets
   * [service, outcome] and, when a registered model served the request, [service, model, version].
   */
  requests: 'Requests',
  /** Handler time of one API request in ms; same dimension sets as `requests`. */
  latency: 'Latency',
  /** 1 for a request answered with a 5xx, else 0 (its average is the error rate); same sets. */
  serverErrors: 'ServerErrors',
  /** Requests refused by the per-principal rate limit; same sets (outcome rate_limited). */
  rateLimited: 'RateLimited',
  /** Requests let through because the rate limit's table could not be reached; same sets. */
  rateLimiterDegraded: 'RateLimiterDegraded',
  /**
   * A request the authorizer refused as unauthorized (no bearer token, or one that failed
   * verification), answered 401 by API Gateway; [service].
   */
  unauthorizedRequests: 'UnauthorizedRequests',
  /** A backend attempt that failed in a retryable way (5xx, throttle, timeout); [service], [service, backend]. */
  backendErrors: 'BackendErrors',
  /** A circuit breaker opened (or reopened); [service], [service, backend]. */
  circuitOpened: 'CircuitOpened',
  /** A half-open circuit's probe succeeded and closed it; [service], [service, backend]. */
  circuitClosed: 'CircuitClosed',
  /** Batch items that got a result, counted once per chunk; [service], [service, model]. */
  batchItemsSucceeded: 'BatchItemsSucceeded',
  /** Batch items recorded as failed, counted once per chunk; [service], [service, model]. */
  batchItemsFailed: 'BatchItemsFailed',
  /** A batch chunk queued again for later because its model was unavailable; [service], [service, model]. */
  batchChunksDeferred: 'BatchChunksDeferred',
  /** A running batch job ended because it made no progress for the stall timeout; [service], [service, model]. */
  batchJobsStalled: 'BatchJobsStalled',
  /** Submission to terminal status of a batch job in ms, once per job; [service], [service, outcome]. */
  batchJobDuration: 'BatchJobDuration',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];
