/**
 * What the figures share: where the bench builds its artefacts, how long each load runs, and the
 * autocannon run that turns a URL and a request into latency and throughput figures.
 */
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const OUT_DIR = `${ROOT}.local/bench`;
export const DURATION_SECONDS = Number(process.env.BENCH_DURATION ?? 10);
export const CONNECTIONS = 8;

export const round = (x: number) => Math.round(x * 100) / 100;

export interface LoadFigures {
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
  requests: number;
  errors: number;
}

interface LoadOptions {
  readonly body: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly connections?: number;
  readonly duration?: number;
}

/** POSTs `body` to `url` (JSON unless the headers say otherwise) for the run's duration. */
export async function load(url: string, options: LoadOptions): Promise<LoadFigures> {
  const result = await autocannon({
    url,
    method: 'POST',
    body: options.body,
    headers: { 'content-type': 'application/json', ...options.headers },
    connections: options.connections ?? CONNECTIONS,
    duration: options.duration ?? DURATION_SECONDS,
  });
  return {
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requestsPerSecond: result.requests.average,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}
