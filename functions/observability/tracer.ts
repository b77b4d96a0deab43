import type { Tracer } from '@aws-lambda-powertools/tracer';
import { useAsyncLocalStorage } from './async-context';

/**
 * Whether Powertools may trace at all: `POWERTOOLS_TRACE_ENABLED=false` turns its Tracer off,
 * read as the Tracer reads it (trimmed, any case).
 */
const tracingSwitchedOff = process.env.POWERTOOLS_TRACE_ENABLED?.trim().toLowerCase() === 'false';

/**
 * X-Ray tracer, loaded only when tracing may be on. Imported only by functions that call AWS
 * services: the X-Ray SDK it loads is the largest part of a bundle, and the authorizer's cold start
 * matters more than its trace.
 */
async function loadTracer(): Promise<Tracer> {
  // Before the SDK loads: its trace context on AsyncLocalStorage, not on cls-hooked's promise hook,
  // which otherwise runs on every promise of the process, traced or not.
  useAsyncLocalStorage((await import('cls-hooked/context')).default);
  return new (await import('@aws-lambda-powertools/tracer')).Tracer();
}

const loaded: Tracer | undefined = tracingSwitchedOff ? undefined : await loadTracer();

export const tracer = {
  /** The Powertools Tracer, or undefined when tracing is switched off. */
  instance: loaded,
  /** Records the client's calls as subsegments when tracing is on; the client as it is otherwise. */
  captureAWSv3Client<T>(client: T): T {
    return loaded ? loaded.captureAWSv3Client(client) : client;
  },
};
