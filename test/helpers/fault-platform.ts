/**
 * The local platform (npm start) as the fault suites start and drive it: waits scaled down through
 * LOCAL_CONTEXT as `cdk deploy -c` would, faults injected through the model server and the control
 * port, and batch jobs checked item by item.
 */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { BatchJob } from '../../functions/batch/api-schemas';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { copyShippedArchive } from './model-store';
import { SIMPLE_SIGNATURE } from './simple-model';

/** The inference function's backend timeout for these runs, so "slower than the timeout" is quick. */
export const BACKEND_TIMEOUT_MS = 3_000;
/**
 * Circuits cool down in 5 s instead of cdk.json's 30 (set as `cdk deploy -c` would): batch chunks
 * deferred by an open circuit wait for it, so the default makes scenarios wait, not test more.
 */
export const CIRCUIT_COOLDOWN_SECONDS = 5;
/**
 * A crashed worker's chunk comes back after the work queue's visibility timeout, six worker timeouts
 * as deployed: a 5 s worker timeout (local only; longer than the backend timeout, as the stack
 * requires) brings it back in 30 s rather than 12 minutes.
 */
export const WORKER_TIMEOUT_SECONDS = 5;
export const WORK_VISIBILITY_MS = 6 * WORKER_TIMEOUT_SECONDS * 1000;
export const TERMINAL = ['SUCCEEDED', 'FAILED', 'COMPLETED_WITH_ERRORS', 'CANCELLED'];

export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfter: string | null;
  /** A connection error or timeout: the request got no answer at all. */
  readonly failure?: string;
}

export type Job = Pick<BatchJob, 'jobId' | 'status' | 'total' | 'succeeded' | 'failed' | 'cancelled'>;

export interface ItemResult {
  index: number;
  outputs?: unknown[];
  error?: string;
  cancelled?: boolean;
}

export const inferBody = (i: number) =>
  JSON.stringify({
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
    ],
  });

const items = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ id: `item-${i}`, ...JSON.parse(inferBody(i)) }));

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface FaultPlatform {
  readonly platform: PlatformProcess;
  /** Calls the API as a premium principal; a connection error or timeout is an answer with status 0. */
  call(path: string, init?: { method?: string; json?: unknown; body?: string }): Promise<Answer>;
  /** Sets (`POST`) or clears (`DELETE`) the model server's faults. */
  modelFaults(method: 'POST' | 'DELETE', body?: object): Promise<void>;
  /** The platform's control port (`local/aws/platform-control.ts`); expects a 200. */
  control(method: string, path: string, body?: object): Promise<{ stats: Record<string, number> }>;
  /** Submits a batch job of `count` items and returns its id. */
  submit(model: string, count: number): Promise<string>;
  /** Polls until the job ends; progress must never go down on the way. Failed polls are retried. */
  finished(jobId: string, timeoutMs: number): Promise<Job>;
  /** Every item index has exactly one result, and the job's counters equal the results. */
  expectResults(final: Job, count: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a platform with the fault suites' timings and registers `faults-<scenario>` for each
 * scenario, each its own archive of `simple` and so its own circuit (named after the target model).
 */
export async function startFaultPlatform(
  subject: string,
  scenarios: readonly string[],
): Promise<FaultPlatform> {
  const platform = await startPlatformProcess({
    LOCAL_CONTROL_PORT: '0',
    BACKEND_TIMEOUT_MS: String(BACKEND_TIMEOUT_MS),
    LOCAL_CONTEXT: JSON.stringify({
      circuitCooldownSeconds: CIRCUIT_COOLDOWN_SECONDS,
      batchWorkerTimeoutSeconds: WORKER_TIMEOUT_SECONDS,
    }),
  });
  const controlUrl = platform.controlUrl!;
  const token = await platformToken({ sub: subject, tier: 'premium' });

  const call: FaultPlatform['call'] = async (path, init = {}) => {
    try {
      const response = await fetch(`${platform.apiUrl}${path}`, {
        method: init.method ?? 'GET',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: init.json === undefined ? init.body : JSON.stringify(init.json),
        signal: AbortSignal.timeout(40_000),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // kept as text: the checks report it
      }
      return { status: response.status, body, retryAfter: response.headers.get('retry-after') };
    } catch (error) {
      return { status: 0, body: undefined, retryAfter: null, failure: String(error) };
    }
  };

  const modelFaults: FaultPlatform['modelFaults'] = async (method, body) => {
    const response = await fetch(`${platform.modelServerUrl}/local/faults`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(response.status).toBe(200);
  };

  const control: FaultPlatform['control'] = async (method, path, body) => {
    const response = await fetch(`${controlUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { stats: Record<string, number> };
  };

  const submit: FaultPlatform['submit'] = async (model, count) => {
    const submitted = await call('/v1/batch-jobs', { method: 'POST', json: { model, items: items(count) } });
    expect(submitted.status).toBe(202);
    return (submitted.body as Job).jobId;
  };

  const finished: FaultPlatform['finished'] = async (jobId, timeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    let progress = -1;
    let job: Job | undefined;
    while (Date.now() < deadline) {
      const answer = await call(`/v1/batch-jobs/${jobId}`);
      if (answer.status === 200) {
        job = answer.body as Job;
        const done = job.succeeded + job.failed + job.cancelled;
        expect(done).toBeGreaterThanOrEqual(progress);
        progress = done;
        if (TERMINAL.includes(job.status)) break;
      }
      await sleep(250);
    }
    expect(job?.status, `job ${jobId} did not finish: ${JSON.stringify(job)}`).toBeOneOf(TERMINAL);
    return job as Job;
  };

  const expectResults: FaultPlatform['expectResults'] = async (final, count) => {
    const results: ItemResult[] = [];
    let nextToken: string | undefined;
    do {
      const page = await call(
        `/v1/batch-jobs/${final.jobId}/results?limit=1000${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ''}`,
      );
      expect(page.status).toBe(200);
      const body = page.body as { results: ItemResult[]; nextToken?: string };
      results.push(...body.results);
      nextToken = body.nextToken;
    } while (nextToken);
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: count }, (_, i) => i));
    const kinds = results.map((r) => [r.outputs, r.error, r.cancelled].filter((x) => x !== undefined).length);
    expect(kinds.filter((k) => k !== 1)).toEqual([]);
    expect(final.total).toBe(count);
    expect(final.succeeded + final.failed + final.cancelled).toBe(count);
    expect({ succeeded: final.succeeded, failed: final.failed, cancelled: final.cancelled }).toEqual({
      succeeded: results.filter((r) => r.outputs).length,
      failed: results.filter((r) => r.error !== undefined).length,
      cancelled: results.filter((r) => r.cancelled).length,
    });
  };

  try {
    for (const name of scenarios) {
      const targetModel = `simple-${createHash('sha256').update(name).digest('hex').slice(0, 16)}.tar.gz`;
      await copyShippedArchive(platform.s3Url, 'simple', targetModel);
      const registered = await call('/v1/models', {
        method: 'POST',
        json: {
          name: `faults-${name}`,
          version: '1',
          platform: 'onnxruntime_onnx',
          ...SIMPLE_SIGNATURE,
          backends: [{ endpointName: 'local-triton', targetModel, weight: 100 }],
        },
      });
      expect(registered.status).toBe(201);
    }
  } catch (error) {
    await platform.stop();
    throw error;
  }

  return {
    platform,
    call,
    modelFaults,
    control,
    submit,
    finished,
    expectResults,
    stop: () => platform.stop(),
  };
}
