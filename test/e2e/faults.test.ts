/**
 * The local platform (npm start) driven while faults are injected: the model server down and back,
 * slower than the backend timeout, failing a share of calls; DynamoDB throttling below the SDK; a
 * batch worker crashing mid-chunk; every container recycled with work in flight. Afterwards every
 * request must have had an answer from the allowed set, and every batch item exactly one result
 * that the job's counters agree with.
 *
 * `FAULT_SUITE=long npx vitest run test/e2e/faults.test.ts` runs the same scenarios with more traffic
 * and bigger jobs.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BatchJob } from '../../functions/batch/api-schemas';
import { readLocalConfig } from '../../local/platform';
import { npmToken, type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { copyShippedArchive } from '../helpers/model-store';
import { freePort } from '../helpers/ports';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const LONG = process.env.FAULT_SUITE === 'long';
const BURST = LONG ? 300 : 50;
const ITEMS = LONG ? 2000 : 240;
const CONCURRENCY = 25;
/** Per scenario. */
const TIMEOUT_MS = LONG ? 300_000 : 90_000;
/** The inference function's backend timeout for this run, so "slower than the timeout" is quick. */
const BACKEND_TIMEOUT_MS = 3_000;
/**
 * Circuits cool down in 5 s instead of cdk.json's 30 (set as `cdk deploy -c` would): batch chunks
 * deferred by an open circuit wait for it, so the default makes scenarios wait, not test more.
 */
const CIRCUIT_COOLDOWN_SECONDS = 5;
/**
 * A crashed worker's chunk comes back after the work queue's visibility timeout, six worker timeouts
 * as deployed: a 5 s worker timeout (local only; longer than the backend timeout, as the stack
 * requires) brings it back in 30 s rather than 12 minutes.
 */
const WORKER_TIMEOUT_SECONDS = 5;
const WORK_VISIBILITY_MS = 6 * WORKER_TIMEOUT_SECONDS * 1000;
const TERMINAL = ['SUCCEEDED', 'FAILED', 'COMPLETED_WITH_ERRORS', 'CANCELLED'];

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfter: string | null;
  /** A connection error or timeout: the request got no answer at all. */
  readonly failure?: string;
}

type Job = Pick<BatchJob, 'jobId' | 'status' | 'total' | 'succeeded' | 'failed' | 'cancelled'>;

interface ItemResult {
  index: number;
  outputs?: unknown[];
  error?: string;
  cancelled?: boolean;
}

const inferBody = (i: number) =>
  JSON.stringify({
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
    ],
  });
const items = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ id: `item-${i}`, ...JSON.parse(inferBody(i)) }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the local platform under injected faults', () => {
  let platform: PlatformProcess;
  let controlUrl: string;
  let token: string;

  const call = async (path: string, init: { method?: string; json?: unknown; body?: string } = {}) => {
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
      return { status: response.status, body, retryAfter: response.headers.get('retry-after') } as Answer;
    } catch (error) {
      return { status: 0, body: undefined, retryAfter: null, failure: String(error) } as Answer;
    }
  };
  const infer = (model: string, i: number) =>
    call(`/v2/models/${model}/infer`, { method: 'POST', body: inferBody(i % 100) });
  /** `count` requests, CONCURRENCY at a time, so that none waits for a container longer than API Gateway would. */
  const burst = async (model: string, count = BURST) => {
    const answers: Answer[] = [];
    let next = 0;
    const client = async () => {
      while (next < count) {
        const i = next++;
        answers[i] = await infer(model, i);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, client));
    return answers;
  };

  const modelFaults = (method: 'POST' | 'DELETE', body?: object) =>
    fetch(`${platform.modelServerUrl}/local/faults`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    }).then((r) => {
      expect(r.status).toBe(200);
    });
  const control = async (method: string, path: string, body?: object) => {
    const response = await fetch(`${controlUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { stats: Record<string, number> };
  };

  /** Every request got an HTTP answer in `allowed`; errors are the platform's JSON errors. */
  function expectAnswered(answers: readonly Answer[], allowed: readonly number[]) {
    expect(answers.filter((a) => a.failure)).toEqual([]);
    expect(answers.filter((a) => !allowed.includes(a.status))).toEqual([]);
    const errors = answers.filter((a) => a.status >= 400);
    expect(
      errors.filter((a) => typeof a.body !== 'object' || a.body === null || !('error' in a.body)),
    ).toEqual([]);
    expect(errors.filter((a) => [429, 503].includes(a.status) && !(Number(a.retryAfter) > 0))).toEqual([]);
  }

  const tally = (answers: readonly Answer[]) => {
    const counts: Record<number, number> = {};
    for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
    return counts;
  };

  async function submit(model: string, count = ITEMS): Promise<string> {
    const submitted = await call('/v1/batch-jobs', { method: 'POST', json: { model, items: items(count) } });
    expect(submitted.status).toBe(202);
    return (submitted.body as Job).jobId;
  }

  /**
   * Waits for the job to end, then checks every item index has exactly one result and the job's
   * counters equal the results. Progress must never go down on the way.
   */
  async function expectAccounted(jobId: string, count = ITEMS, timeoutMs?: number): Promise<Job> {
    const job = await finished(jobId, timeoutMs);
    await expectResults(job, count);
    return job;
  }

  /** Polls until the job ends; progress must never go down on the way. Failed polls are retried. */
  async function finished(jobId: string, timeoutMs = LONG ? 300_000 : 60_000): Promise<Job> {
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
    return job!;
  }

  /** Every item index has exactly one result, and the job's counters equal the results. */
  async function expectResults(final: Job, count: number): Promise<void> {
    const { jobId } = final;
    const results: ItemResult[] = [];
    let nextToken: string | undefined;
    do {
      const page = await call(
        `/v1/batch-jobs/${jobId}/results?limit=1000${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ''}`,
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
  }

  beforeAll(async () => {
    const controlPort = await freePort();
    platform = await startPlatformProcess({
      LOCAL_CONTROL_PORT: String(controlPort),
      BACKEND_TIMEOUT_MS: String(BACKEND_TIMEOUT_MS),
      LOCAL_CONTEXT: JSON.stringify({
        circuitCooldownSeconds: CIRCUIT_COOLDOWN_SECONDS,
        batchWorkerTimeoutSeconds: WORKER_TIMEOUT_SECONDS,
      }),
    });
    controlUrl = `http://127.0.0.1:${controlPort}`;
    token = await npmToken('--sub', 'faults', '--tier', 'premium');
    // One model per scenario, each its own circuit (the circuit is named after the target model).
    for (const name of ['down', 'fresh', 'rate', 'slow', 'throttle', 'crash', 'recycle']) {
      const targetModel = `simple-${createHash('sha256').update(name).digest('hex').slice(0, 16)}.tar.gz`;
      await copyShippedArchive(platform.s3Url, 'simple', targetModel);
      const registered = await call('/v1/models', {
        method: 'POST',
        json: {
          name: `faults-${name}`,
          version: '1',
          platform: 'onnxruntime_onnx',
          ...SIMPLE_SIGNATURE,
          backends: [
            {
              endpointName: 'local-triton',
              targetModel,
              weight: 100,
            },
          ],
        },
      });
      expect(registered.status).toBe(201);
    }
    // Grow the API functions' container pools first, so that the scenarios start warm.
    await burst('faults-fresh', CONCURRENCY);
  });

  afterEach(async () => {
    if (!platform) return;
    await modelFaults('DELETE');
    await control('DELETE', '/local/faults');
  });

  afterAll(async () => {
    await platform?.stop();
  });

  let downAt = 0;

  it(
    'answers 502, 503 or 504 while the model server is down, and 200 once it is back',
    async () => {
      await modelFaults('POST', { down: true });
      downAt = Date.now();
      const during = await burst('faults-down');
      await modelFaults('DELETE');
      const after = await burst('faults-fresh', 10);
      const sameModel = await infer('faults-down', 1);

      expectAnswered(during, [502, 503, 504]);
      expect(during.filter((a) => a.status === 503 || a.status === 504).length).toBeGreaterThan(0);
      expectAnswered(after, [200]);
      // Its circuit opened while the server was down: until the cool-down ends, 503 without a call.
      expectAnswered([sameModel], [200, 503]);
    },
    TIMEOUT_MS,
  );

  it(
    'answers 504 (or 503 once the circuit opens) when the endpoint is slower than the backend timeout',
    async () => {
      await modelFaults('POST', { latencyMs: BACKEND_TIMEOUT_MS + 1_500 });
      const started = Date.now();
      const answers = await burst('faults-slow', 20);

      expectAnswered(answers, [503, 504]);
      expect(answers.some((a) => a.status === 504)).toBe(true);
      // Nobody waited for the injected latency's full length on top of the timeout, let alone 29 s.
      expect(Date.now() - started).toBeLessThan(25_000);
    },
    TIMEOUT_MS,
  );

  it(
    'accounts every batch item once and answers realtime with JSON errors when 30 % of calls fail',
    async () => {
      await modelFaults('POST', { failRate: 0.3, failStatus: 500, seed: 7 });
      const jobId = await submit('faults-rate');
      const answers = await burst('faults-rate');
      expectAnswered(answers, [200, 502, 503]);
      expect(answers.some((a) => a.status === 200)).toBe(true);
      expect(answers.some((a) => a.status !== 200)).toBe(true);
      // A failing model fails no batch item: its chunks wait (deferred) until it answers again.
      await modelFaults('DELETE');

      const job = await expectAccounted(jobId);
      expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: ITEMS });
    },
    TIMEOUT_MS,
  );

  it(
    'keeps every answer and batch count right while DynamoDB throttles a quarter of its calls',
    async () => {
      const jobId = await submit('faults-throttle');
      await control('PUT', '/local/faults/dynamodb', { throttleRate: 0.25, seed: 3 });
      const answers = await burst('faults-throttle');
      const job = await finished(jobId);
      const { stats } = await control('DELETE', '/local/faults/dynamodb');
      await expectResults(job, ITEMS);

      expect(stats.dynamodbThrottled).toBeGreaterThan(0);
      // A call still throttled after the SDK's retries is a 503 with Retry-After, and a request whose
      // retries used up its time budget before the endpoint call is a 504; the rest succeed.
      expectAnswered(answers, [200, 503, 504]);
      expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(answers.length * 0.8);
      expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: ITEMS });
    },
    TIMEOUT_MS,
  );

  it(
    'recounts nothing when a batch worker container crashes mid-chunk',
    async () => {
      // Right after a chunk's SageMaker answer, before its result is written: SQS redelivers it.
      await control('PUT', '/local/faults/crash', {
        function: 'batch-worker',
        afterSageMakerCalls: 2,
        times: 2,
      });
      const jobId = await submit('faults-crash');
      const job = await expectAccounted(jobId);
      const { stats } = await control('GET', '/local/faults');

      expect(stats.crashes).toBe(2);
      expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: ITEMS, failed: 0 });
    },
    TIMEOUT_MS,
  );

  it(
    'ends a job whose chunk crashed its worker on every delivery, with the reason on its items, unattended',
    async () => {
      // One chunk (the model batches 8 items), so each crash is a delivery of that chunk: after the
      // last the queue allows, SQS dead-letters it, and nobody redrives the queue.
      const deliveries = readLocalConfig().batchMaxReceiveCount;
      await control('PUT', '/local/faults/crash', {
        function: 'batch-worker',
        afterSageMakerCalls: 1,
        times: deliveries,
      });
      const jobId = await submit('faults-crash', 8);
      const job = await expectAccounted(jobId, 8, deliveries * WORK_VISIBILITY_MS + 30_000);
      const { stats } = await control('GET', '/local/faults');
      const results = await call(`/v1/batch-jobs/${jobId}/results`);

      expect(stats.crashes).toBe(deliveries);
      expect(job).toMatchObject({ status: 'FAILED', succeeded: 0, failed: 8 });
      expect((results.body as { results: ItemResult[] }).results[0]?.error).toMatch(
        new RegExp(`^dead-lettered after ${deliveries} deliveries: `),
      );
    },
    // Each crashed delivery comes back after the visibility timeout.
    TIMEOUT_MS + readLocalConfig().batchMaxReceiveCount * WORK_VISIBILITY_MS,
  );

  it(
    'loses nothing when every container is recycled with requests and a job in flight',
    async () => {
      const jobId = await submit('faults-recycle');
      const traffic = burst('faults-recycle');
      for (let i = 0; i < 3; i++) {
        await sleep(400);
        await control('POST', '/local/recycle');
      }
      const answers = await traffic;
      const job = await expectAccounted(jobId);

      expectAnswered(answers, [200]);
      expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: ITEMS });
    },
    TIMEOUT_MS,
  );

  it(
    'answers 200 again for the model that was down once its circuit cool-down has passed',
    async () => {
      const answers: Answer[] = [];
      const deadline = Math.max(downAt + CIRCUIT_COOLDOWN_SECONDS * 1000, Date.now()) + 20_000;
      while (Date.now() < deadline) {
        const answer = await infer('faults-down', 1);
        answers.push(answer);
        if (answer.status === 200) break;
        await sleep(Math.min(Number(answer.retryAfter) || 1, 2) * 1000);
      }
      expectAnswered(answers, [200, 503]);
      expect(answers.at(-1)?.status, JSON.stringify(tally(answers))).toBe(200);
    },
    TIMEOUT_MS,
  );
});
