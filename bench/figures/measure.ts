/**
 * What the figures share: where the bench builds its artefacts, how long each load runs, and the
 * autocannon run that turns a URL and a request into latency and throughput figures, and a model
 * server in a process of its own.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const OUT_DIR = `${ROOT}.local/bench`;
export const DURATION_SECONDS = Number(process.env.BENCH_DURATION ?? 10);
export const CONNECTIONS = 8;

export const round = (x: number) => Math.round(x * 100) / 100;

/** The middle sample (the upper of the two middle ones for an even count). */
export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

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

/** A model server on `repository` in its own process, so autocannon's CPU time is not the server's. */
export async function startModelServerProcess(repository: string): Promise<{
  url: string;
  /** Stops the server; resolves with the CPU time it used while it served, in microseconds. */
  stop(): Promise<number>;
}> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', `${ROOT}bench/model-server-process.ts`, repository],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the model server did not start:\n${output}`)), 60_000);
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /Model server (http:\/\/\S+)/.exec(output)?.[1];
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the model server exited before it was ready:\n${output}`));
    });
  });
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const cpu = /^CPU (\d+)$/m.exec(output)?.[1];
      if (cpu === undefined) throw new Error(`the model server did not report its CPU time:\n${output}`);
      return Number(cpu);
    },
  };
}
