/**
 * The local platform (npm start) driven while faults are injected: the model server down and back,
 * slower than the backend timeout, failing a share of calls; DynamoDB throttling below the SDK;
 * every container recycled with work in flight. Afterwards every request must have had an answer
 * from the allowed set, and every batch item exactly one result that the job's counters agree with.
 * Batch workers crashing mid-chunk, once and on every delivery, are `worker-crashes.test.ts` and
 * `dead-lettered-chunk.test.ts`, and a batch job under DynamoDB throttling `batch-throttling.test.ts`:
 * they only wait for redeliveries and check counts, so they run beside other files instead of alone.
 *
 * `FAULT_SUITE=long npx vitest run test/e2e/faults.test.ts test/e2e/worker-crashes.test.ts test/e2e/batch-throttling.test.ts` runs the
 * same scenarios with more traffic and bigger jobs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Answer,
  BACKEND_TIMEOUT_MS,
  CIRCUIT_COOLDOWN_SECONDS,
  type FaultPlatform,
  inferBody,
  type Job,
  sleep,
  startFaultPlatform,
} from '../helpers/fault-platform';

const LONG = process.env.FAULT_SUITE === 'long';
const BURST = LONG ? 300 : 50;
const ITEMS = LONG ? 2000 : 240;
const CONCURRENCY = 25;
/** Per scenario. */
const TIMEOUT_MS = LONG ? 300_000 : 90_000;
const JOB_TIMEOUT_MS = LONG ? 300_000 : 60_000;

describe('the local platform under injected faults', () => {
  let faults: FaultPlatform;
  const call: FaultPlatform['call'] = (path, init) => faults.call(path, init);
  const modelFaults: FaultPlatform['modelFaults'] = (method, body) => faults.modelFaults(method, body);
  const control: FaultPlatform['control'] = (method, path, body) => faults.control(method, path, body);
  const submit = (model: string, count = ITEMS) => faults.submit(model, count);
  const finished = (jobId: string, timeoutMs = JOB_TIMEOUT_MS) => faults.finished(jobId, timeoutMs);
  const expectResults = (job: Job, count: number) => faults.expectResults(job, count);
  /** Waits for the job to end, then checks every item index has exactly one result. */
  async function expectAccounted(jobId: string, count = ITEMS): Promise<Job> {
    const job = await finished(jobId);
    await expectResults(job, count);
    return job;
  }

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

  beforeAll(async () => {
    // One model per scenario, each its own circuit.
    faults = await startFaultPlatform('faults', ['down', 'fresh', 'rate', 'slow', 'throttle', 'recycle']);
    // Grow the API functions' container pools first, so that the scenarios start warm.
    await burst('faults-fresh', CONCURRENCY);
  });

  afterEach(async () => {
    if (!faults) return;
    await modelFaults('DELETE');
    await control('DELETE', '/local/faults');
  });

  afterAll(async () => {
    await faults?.stop();
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
      await modelFaults('POST', { failRate: 0.3, failStatus: 0, seed: 7 });
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

  // A batch job under the same throttling waits for redeliveries and checks counts only: it runs
  // beside other files, in batch-throttling.test.ts.
  it(
    'keeps every answer right while DynamoDB throttles a quarter of its calls',
    async () => {
      await control('PUT', '/local/faults/dynamodb', { throttleRate: 0.25, seed: 3 });
      const answers = await burst('faults-throttle');
      const { stats } = await control('DELETE', '/local/faults/dynamodb');

      expect(stats.dynamodbThrottled).toBeGreaterThan(0);
      // A call still throttled after the SDK's retries is a 503 with Retry-After, and a request whose
      // retries used up its time budget before the endpoint call is a 504; the rest succeed.
      expectAnswered(answers, [200, 503, 504]);
      expect(answers.filter((a) => a.status === 200).length).toBeGreaterThan(answers.length * 0.8);
    },
    TIMEOUT_MS,
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
