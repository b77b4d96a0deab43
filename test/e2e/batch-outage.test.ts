/**
 * Batch jobs through a model outage on the local platform (npm start), with timings scaled down
 * through LOCAL_CONTEXT as `cdk deploy -c` would set them: circuits cool down in 2 s and a chunk's
 * outage budget is 20 s. An outage shorter than the budget fails no item; a longer one fails the
 * items it holds up, naming the outage. Either way every item has exactly one result.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BatchJob } from '../../functions/batch/api-schemas';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { copyShippedArchive } from '../helpers/model-store';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const OUTAGE_BUDGET_SECONDS = 20;
const CIRCUIT_COOLDOWN_SECONDS = 2;
const ITEMS = 200;
const TERMINAL = ['SUCCEEDED', 'FAILED', 'COMPLETED_WITH_ERRORS', 'CANCELLED'];

type Job = Pick<BatchJob, 'jobId' | 'status' | 'total' | 'succeeded' | 'failed' | 'cancelled'>;

interface ItemResult {
  index: number;
  outputs?: unknown[];
  error?: string;
  cancelled?: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const items = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    id: `item-${i}`,
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
    ],
  }));

describe('batch jobs through a model outage', () => {
  let platform: PlatformProcess;
  let token: string;

  const call = async (path: string, init: { method?: string; json?: unknown } = {}) => {
    const response = await fetch(`${platform.apiUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as unknown };
  };
  const modelFaults = async (method: 'POST' | 'DELETE', body?: object) => {
    const response = await fetch(`${platform.modelServerUrl}/local/faults`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(response.status).toBe(200);
  };

  async function submit(model: string): Promise<string> {
    const submitted = await call('/v1/batch-jobs', { method: 'POST', json: { model, items: items(ITEMS) } });
    expect(submitted.status).toBe(202);
    return (submitted.body as Job).jobId;
  }

  /** Polls until the job ends; progress never goes down on the way. */
  async function finished(jobId: string, timeoutMs: number): Promise<Job> {
    const deadline = Date.now() + timeoutMs;
    let progress = -1;
    let job: Job | undefined;
    while (Date.now() < deadline) {
      const answer = await call(`/v1/batch-jobs/${jobId}`);
      expect(answer.status).toBe(200);
      job = answer.body as Job;
      const done = job.succeeded + job.failed + job.cancelled;
      expect(done).toBeGreaterThanOrEqual(progress);
      progress = done;
      if (TERMINAL.includes(job.status)) return job;
      await sleep(250);
    }
    throw new Error(`job ${jobId} did not finish: ${JSON.stringify(job)}`);
  }

  /** Every item index has exactly one result, and the job's counters equal the results. */
  async function resultsOf(job: Job): Promise<ItemResult[]> {
    const results: ItemResult[] = [];
    let nextToken: string | undefined;
    do {
      const page = await call(
        `/v1/batch-jobs/${job.jobId}/results?limit=1000${nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : ''}`,
      );
      expect(page.status).toBe(200);
      const body = page.body as { results: ItemResult[]; nextToken?: string };
      results.push(...body.results);
      nextToken = body.nextToken;
    } while (nextToken);
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: ITEMS }, (_, i) => i));
    expect({ succeeded: job.succeeded, failed: job.failed, cancelled: job.cancelled }).toEqual({
      succeeded: results.filter((r) => r.outputs).length,
      failed: results.filter((r) => r.error !== undefined).length,
      cancelled: results.filter((r) => r.cancelled).length,
    });
    return results;
  }

  beforeAll(async () => {
    platform = await startPlatformProcess({
      LOCAL_CONTEXT: JSON.stringify({
        circuitCooldownSeconds: CIRCUIT_COOLDOWN_SECONDS,
        batchOutageBudgetSeconds: OUTAGE_BUDGET_SECONDS,
      }),
    });
    token = await platformToken({ sub: 'batch-outage', tier: 'premium' });
    // One model per scenario, each its own circuit (the circuit is named after the target model):
    // two archive names of `simple`, flat as the model store names them (`<model>-<hash>.tar.gz`).
    for (const [name, hash] of [
      ['short', '0000000000000001'],
      ['long', '0000000000000002'],
    ]) {
      await copyShippedArchive(platform.s3Url, 'simple', `simple-${hash}.tar.gz`);
      const registered = await call('/v1/models', {
        method: 'POST',
        json: {
          name: `outage-${name}`,
          version: '1',
          platform: 'onnxruntime_onnx',
          ...SIMPLE_SIGNATURE,
          backends: [{ endpointName: 'local-triton', targetModel: `simple-${hash}.tar.gz`, weight: 100 }],
        },
      });
      expect(registered.status).toBe(201);
    }
  }, 120_000);

  afterEach(async () => {
    if (platform) await modelFaults('DELETE');
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it('fails no item when the model is down for less than the outage budget', async () => {
    // A failed delivery would come back only after the work queue's visibility timeout (12 min):
    // finishing within a minute shows the chunks were deferred, not redelivered.
    const jobId = await submit('outage-short');
    await modelFaults('POST', { down: true });
    await sleep(6_000);
    await modelFaults('DELETE');

    const job = await finished(jobId, 60_000);

    expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: ITEMS, failed: 0 });
    await resultsOf(job);
  }, 90_000);

  it('fails the items an outage longer than the budget holds up, naming the outage', async () => {
    const jobId = await submit('outage-long');
    await modelFaults('POST', { down: true });
    const started = Date.now();

    const job = await finished(jobId, 60_000);

    expect(Date.now() - started).toBeGreaterThanOrEqual((OUTAGE_BUDGET_SECONDS - 2) * 1000);
    expect(job.failed).toBeGreaterThan(0);
    const failed = (await resultsOf(job)).filter((r) => r.error !== undefined);
    for (const r of failed) {
      expect(r.error).toMatch(
        new RegExp(
          `^model unavailable for \\d+ s, longer than the batch outage budget of ${OUTAGE_BUDGET_SECONDS} s; last error: `,
        ),
      );
    }
  }, 90_000);
});
