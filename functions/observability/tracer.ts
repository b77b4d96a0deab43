import type { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * Whether Powertools may trace at all: `POWERTOOLS_TRACE_ENABLED=false` turns its Tracer off,
 * read as the Tracer reads it (trimmed, any case).
 */
const tracingSwitchedOff = process.env.POWERTOOLS_TRACE_ENABLED?.trim().toLowerCase() === 'false';

/**
 * X-Ray tracer, loaded only when tracing may be on. Loading the X-Ray SDK installs a promise hook
 * (`cls-hooked`, its automatic mode) that runs on every promise for the life of the process, traced
 * or not: about half a millisecond of CPU per warm request. Switched off, nothing loads it.
 * Imported only by functions that call AWS services: the X-Ray SDK it loads is the largest part of
 * a bundle, and the authorizer's cold start matters more than its trace.
 */
const loaded: Tracer | undefined = tracingSwitchedOff
  ? undefined
  : new (await import('@aws-lambda-powertools/tracer')).Tracer();

export const tracer = {
  /** The Powertools Tracer, or undefined when tracing is switched off. */
  instance: loaded,
  /** Records the client's calls as subsegments when tracing is on; the client as it is otherwise. */
  captureAWSv3Client<T>(client: T): T {
    return loaded ? loaded.captureAWSv3Client(client) : client;
  },
};
