import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

/** Item i: INPUT0 all i, INPUT1 all 1, so the `simple` model's OUTPUT0 is all i + 1. */
const items = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    id: `item-${i}`,
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
    ],
  }));

interface Job {
  jobId: string;
  status: string;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

describe('batch jobs (npm start)', () => {
  let platform: PlatformProcess;
  let alice: string;
  let bob: string;
  let admin: string;

  const call = async (path: string, init: RequestInit & { token?: string; json?: unknown } = {}) => {
    const { token = alice, json, ...rest } = init;
    const response = await fetch(`${platform.apiUrl}${path}`, {
      ...rest,
      body: json === undefined ? rest.body : JSON.stringify(json),
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${token}`,
        ...(rest.headers as Record<string, string>),
      },
    });
    const text = await response.text();
    return { response, status: response.status, body: text ? JSON.parse(text) : undefined };
  };

  /** Polls until the job is finished; progress must never go down on the way. */
  async function pollToCompletion(jobId: string): Promise<Job> {
    let done = -1;
    for (let attempt = 0; attempt < 300; attempt++) {
      const { status, body } = await call(`/v1/batch-jobs/${jobId}`);
      if (status === 200) {
        const job = body as Job;
        const progress = job.succeeded + job.failed + job.cancelled;
        expect(progress).toBeGreaterThanOrEqual(done);
        done = progress;
        if (!['QUEUED', 'RUNNING'].includes(job.status)) return job;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`job ${jobId} did not finish`);
  }

  /** Every result of a job, in item order. */
  async function allResults(jobId: string): Promise<{ index: number; id?: string }[]> {
    const results: { index: number; id?: string }[] = [];
    let nextToken: string | undefined;
    do {
      const query = nextToken ? `&nextToken=${nextToken}` : '';
      const page = await call(`/v1/batch-jobs/${jobId}/results?limit=1000${query}`);
      results.push(...page.body.results);
      nextToken = page.body.nextToken;
    } while (nextToken);
    return results;
  }

  /** A finished job ran exactly the items it was given: one result each, counted once. */
  async function expectRanExactly(job: Job, ids: readonly string[]) {
    const results = await allResults(job.jobId);
    expect(results.map((r) => r.index)).toEqual(ids.map((_, i) => i));
    expect(results.map((r) => r.id)).toEqual(ids);
    expect(job.total).toBe(ids.length);
    expect(job.succeeded + job.failed + job.cancelled).toBe(ids.length);
    const counted = { outputs: 0, error: 0, cancelled: 0 };
    for (const r of results) {
      for (const kind of ['outputs', 'error', 'cancelled'] as const) if (kind in r) counted[kind]++;
    }
    expect(counted).toEqual({ outputs: job.succeeded, error: job.failed, cancelled: job.cancelled });
  }

  /** Two bodies for one key: twenty items, and thirteen others under other ids. */
  const raced = {
    ours: items(20),
    theirs: items(13).map((item, i) => ({ ...item, id: `other-${i}` })),
  };

  beforeAll(async () => {
    platform = await startPlatformProcess();
    [alice, bob, admin] = await Promise.all([
      platformToken({ sub: 'alice', scope: 'batch:submit batch:read' }),
      platformToken({ sub: 'bob', scope: 'batch:submit batch:read' }),
      platformToken({ sub: 'operator', scope: 'batch:read admin' }),
    ]);
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it('runs a job submitted over HTTPS to completion, once per idempotency key', async () => {
    // Act
    const submit = () =>
      call('/v1/batch-jobs', {
        method: 'POST',
        headers: { 'Idempotency-Key': 'e2e-https-1' },
        json: { model: 'simple', items: items(30) },
      });
    const first = await submit();
    const retried = await submit();

    // Assess
    expect(first.status).toBe(202);
    expect(retried.status).toBe(202);
    const location = first.response.headers.get('location');
    expect(location).toBe(`/v1/batch-jobs/${first.body.jobId}`);
    expect(retried.response.headers.get('location')).toBe(location);
    const job = await pollToCompletion(first.body.jobId);
    expect(job).toMatchObject({ status: 'SUCCEEDED', total: 30, succeeded: 30, failed: 0, cancelled: 0 });

    const page = await call(`/v1/batch-jobs/${job.jobId}/results?limit=5`);
    expect(page.status).toBe(200);
    expect(page.body.results.map((r: { index: number }) => r.index)).toEqual([0, 1, 2, 3, 4]);
    expect(page.body.results[3]).toMatchObject({
      id: 'item-3',
      outputs: expect.arrayContaining([
        expect.objectContaining({ name: 'OUTPUT0', data: Array(16).fill(4) }),
      ]),
    });
    const next = await call(`/v1/batch-jobs/${job.jobId}/results?limit=30&nextToken=${page.body.nextToken}`);
    expect(next.body.results).toHaveLength(25);
    expect(next.body.nextToken).toBeUndefined();

    const cancel = await call(`/v1/batch-jobs/${job.jobId}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(409);
    expect((await call(`/v1/batch-jobs/${job.jobId}`, { token: bob })).status).toBe(404);
    expect((await call(`/v1/batch-jobs/${job.jobId}/results`, { token: bob })).status).toBe(404);
    expect((await call(`/v1/batch-jobs/${job.jobId}`, { token: admin })).body).toMatchObject({
      owner: 'alice',
    });

    const listed = await call('/v1/batch-jobs');
    expect(listed.body.jobs.map((j: Job) => j.jobId)).toContain(job.jobId);
    expect((await call('/v1/batch-jobs', { token: bob })).body.jobs).toEqual([]);
  });

  it('writes an S3-results job as JSONL parts read back through presigned links, one line per item', async () => {
    // More items than a chunk holds (TABLE_CHUNK_ITEMS): a part per chunk, a page of one link each.
    const count = 1_500;
    const submitted = await call('/v1/batch-jobs', {
      method: 'POST',
      json: { model: 'simple', items: items(count), results: 's3' },
    });
    expect(submitted.status).toBe(202);
    expect(submitted.body).toMatchObject({ resultsTo: 's3' });
    const job = await pollToCompletion(submitted.body.jobId);
    expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: count, failed: 0 });

    const lines: { index: number; id?: string; outputs?: { data: number[] }[] }[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const query = nextToken ? `&nextToken=${encodeURIComponent(nextToken)}` : '';
      let page = await call(`/v1/batch-jobs/${job.jobId}/results?limit=1${query}`);
      // The manifest is written just after the job ends: until then the route answers 409.
      for (let wait = 0; page.status === 409 && wait < 50; wait++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        page = await call(`/v1/batch-jobs/${job.jobId}/results?limit=1${query}`);
      }
      expect({ status: page.status, body: page.status === 200 ? {} : page.body }).toEqual({
        status: 200,
        body: {},
      });
      expect(page.body).toMatchObject({ status: 'SUCCEEDED', total: count, expiresInSeconds: 900 });
      for (const part of page.body.parts as { url: string; first: number; items: number }[]) {
        expect(new URL(part.url).hostname).toBe('127.0.0.1');
        // The link alone reads the part: no bearer token.
        const response = await fetch(part.url);
        expect(response.status).toBe(200);
        const partLines = (await response.text())
          .trimEnd()
          .split('\n')
          .map((line) => JSON.parse(line));
        expect(partLines.map((l) => l.index)).toEqual(
          Array.from({ length: part.items }, (_, i) => part.first + i),
        );
        lines.push(...partLines);
      }
      nextToken = page.body.nextToken;
      pages++;
    } while (nextToken);
    expect(pages).toBeGreaterThan(1);
    expect(lines.map((l) => l.index)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(lines.map((l) => l.id)).toEqual(Array.from({ length: count }, (_, i) => `item-${i}`));
    expect(lines[7]!.outputs![0]!.data).toEqual(Array(16).fill(8));
  });

  it('refuses a submission whose items do not fit the model with 400', async () => {
    const bad = items(2);
    bad[1]!.inputs[0]!.shape = [1, 15];
    const response = await call('/v1/batch-jobs', { method: 'POST', json: { model: 'simple', items: bad } });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/item 1/);
  });

  it('runs a job submitted over SQS to completion', async () => {
    // Prepare: queue URLs have a *.localhost host, so the client needs the emulator as endpoint.
    const sqs = new SQSClient({
      endpoint: platform.sqsUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });

    // Act
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: platform.submissionsQueueUrl,
        MessageBody: JSON.stringify({
          model: 'simple',
          owner: 'alice',
          jobId: 'e2e-sqs-1',
          items: items(12),
        }),
      }),
    );
    sqs.destroy();

    // Assess: the job appears once the fan-out has stored it.
    let job: Job | undefined;
    for (let attempt = 0; attempt < 100 && !job; attempt++) {
      const found = await call('/v1/batch-jobs/e2e-sqs-1');
      if (found.status === 200) job = found.body as Job;
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(job).toBeDefined();
    expect(await pollToCompletion('e2e-sqs-1')).toMatchObject({
      status: 'SUCCEEDED',
      total: 12,
      succeeded: 12,
    });
    const results = await call('/v1/batch-jobs/e2e-sqs-1/results?limit=100');
    expect(results.body.results).toHaveLength(12);
    expect(results.body.results[11]).toMatchObject({ index: 11, id: 'item-11' });
  });

  it('keeps one job per idempotency key when ten submissions race over HTTPS, refusing the other body', async () => {
    // Act: ten at once, one key, every other one with another body.
    const bodies = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? raced.ours : raced.theirs));
    const answers = await Promise.all(
      bodies.map((body) =>
        call('/v1/batch-jobs', {
          method: 'POST',
          headers: { 'Idempotency-Key': 'e2e-raced-https' },
          json: { model: 'simple', items: body },
        }),
      ),
    );

    // Assess: the body whose job exists got it every time; the other body got a 422 every time.
    const accepted = answers.find((a) => a.status === 202);
    expect(accepted).toBeDefined();
    const winner = accepted!.body.total === raced.ours.length ? raced.ours : raced.theirs;
    for (const [i, answer] of answers.entries()) {
      if (bodies[i] === winner) {
        expect(answer.status).toBe(202);
        expect(answer.body.jobId).toBe(accepted!.body.jobId);
      } else {
        expect(answer.status).toBe(422);
        expect(answer.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
      }
    }
    const job = await pollToCompletion(accepted!.body.jobId);
    expect(job.status).toBe('SUCCEEDED');
    await expectRanExactly(
      job,
      winner.map((item) => item.id),
    );
  });

  it('keeps one job per named id when ten SQS messages race for it with two bodies', async () => {
    // Prepare
    const sqs = new SQSClient({
      endpoint: platform.sqsUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });

    // Act: one batch of ten messages, so the fan-out receives and handles them together.
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: platform.submissionsQueueUrl,
        Entries: Array.from({ length: 10 }, (_, i) => ({
          Id: String(i),
          MessageBody: JSON.stringify({
            model: 'simple',
            owner: 'alice',
            jobId: 'e2e-sqs-raced',
            items: i % 2 === 0 ? raced.ours : raced.theirs,
          }),
        })),
      }),
    );
    sqs.destroy();

    // Assess
    for (let attempt = 0; attempt < 100; attempt++) {
      if ((await call('/v1/batch-jobs/e2e-sqs-raced')).status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const job = await pollToCompletion('e2e-sqs-raced');
    expect(job.status).toBe('SUCCEEDED');
    const winner = job.total === raced.ours.length ? raced.ours : raced.theirs;
    await expectRanExactly(
      job,
      winner.map((item) => item.id),
    );
  });

  it('ends every job whose cancel was accepted CANCELLED, over twenty submit-and-cancel rounds', async () => {
    for (let round = 0; round < 20; round++) {
      // Act: a job of three chunks, cancelled as soon as it is accepted.
      const submitted = await call('/v1/batch-jobs', {
        method: 'POST',
        json: { model: 'simple', items: items(24) },
      });
      expect(submitted.status).toBe(202);
      const cancel = await call(`/v1/batch-jobs/${submitted.body.jobId}/cancel`, { method: 'POST' });

      // Assess: 202 means some chunk had not started, and it was stopped; 409 means none was left.
      expect([202, 409]).toContain(cancel.status);
      const job = await pollToCompletion(submitted.body.jobId);
      expect({ round, cancel: cancel.status, status: job.status }).toEqual({
        round,
        cancel: cancel.status,
        status: cancel.status === 202 ? 'CANCELLED' : expect.not.stringMatching(/CANCELLED/),
      });
      await expectRanExactly(
        job,
        items(24).map((item) => item.id),
      );
    }
  });
});
