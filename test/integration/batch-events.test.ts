import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_EVENT_BUS_NAME } from '../../contracts/environment-variables';
import { countResult } from '../../functions/batch/accounting';
import type { ItemResult } from '../../functions/batch/api-schemas';
import { BatchApiStore, type NewJob } from '../../functions/batch/batch-store';
import { JOB_ENDED_DETAIL_TYPE, JOB_EVENT_SOURCE } from '../../functions/batch/job-events';
import { checkJob } from '../../functions/batch/stall-watch';
import { createBatchTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { type LocalEventBridge, startEventBridge } from '../../local/aws/eventbridge';
import { liveCheck } from '../helpers/batch-jobs';
import { LOCAL_CREDENTIALS, localDynamoDb } from '../helpers/local-clients';

const BUS = 'batch-events';

function newJob(jobId: string, chunks: number): NewJob {
  return {
    jobId,
    owner: 'alice',
    model: 'simple',
    version: '1',
    total: chunks,
    chunks,
    createdAt: new Date().toISOString(),
    fingerprint: 'f',
    chunkSet: 'set',
  };
}

const failed = (index: number): ItemResult[] => [{ index, error: 'refused' }];

describe('the job-ended event on the local EventBridge', () => {
  let dynamo: LocalDynamoDb;
  let eventBridge: LocalEventBridge;
  let store: BatchApiStore;
  let client: EventBridgeClient;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    const dynamodb = localDynamoDb(dynamo.url);
    await createBatchTable(dynamodb, 'batch');
    store = new BatchApiStore(dynamodb, 'batch');
    eventBridge = await startEventBridge({ buses: [BUS], region: 'us-east-1' });
    // What the functions' environment holds, as the platform sets it.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      [BATCH_EVENT_BUS_NAME]: BUS,
    });
    client = new EventBridgeClient({
      endpoint: eventBridge.url,
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
    });
  });

  afterAll(async () => {
    client?.destroy();
    await eventBridge?.close();
    await dynamo?.close();
  });

  const eventsOf = (jobId: string) =>
    eventBridge.events.filter((e) => (e.detail as { jobId?: string }).jobId === jobId);

  async function runJob(jobId: string, chunks: number) {
    await store.createJob(newJob(jobId, chunks));
    for (let chunk = 0; chunk < chunks; chunk++) {
      const result = await store.putResult(jobId, { chunk, results: failed(chunk) });
      await countResult(store, (await store.getJobRecord(jobId))!, result);
    }
  }

  it('publishes one event when a job ends, and none again on a redelivered chunk', async () => {
    // Act
    await runJob('once', 2);
    const job = (await store.getJobRecord('once'))!;
    const result = (await store.getResult('once', 1))!;
    await countResult(store, job, result);

    // Assess
    const events = eventsOf('once');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      source: JOB_EVENT_SOURCE,
      'detail-type': JOB_ENDED_DETAIL_TYPE,
      bus: BUS,
      detail: {
        jobId: 'once',
        owner: 'alice',
        model: 'simple',
        version: '1',
        status: 'FAILED',
        attempt: 0,
        total: 2,
        succeeded: 0,
        failed: 2,
        cancelled: 0,
        createdAt: job.createdAt,
        completedAt: job.completedAt,
      },
    });
    expect((await store.getJobRecord('once'))?.notifiedAt).toBeDefined();
  });

  it('publishes the end of a job whose function died between the transition and the event, on redelivery', async () => {
    // Prepare: the transition won, then the container died before publishing.
    await store.createJob(newJob('crashed', 1));
    const result = await store.putResult('crashed', { chunk: 0, results: failed(0) });
    await store.countChunk('crashed', 0, { succeeded: 0, failed: 1, cancelled: 0 });
    expect(await store.finish('crashed', 'FAILED')).toBe(true);
    const before = eventsOf('crashed').length;

    // Act: SQS delivers the chunk again, twice.
    const job = (await store.getJobRecord('crashed'))!;
    await countResult(store, job, result);
    await countResult(store, job, result);

    // Assess
    expect(before).toBe(0);
    expect(eventsOf('crashed')).toHaveLength(1);
    expect(eventsOf('crashed')[0]?.detail).toMatchObject({ status: 'FAILED', failed: 1 });
  });

  it('has the stall watch publish the end of an ended job that no one published', async () => {
    await store.createJob(newJob('watched', 1));
    await store.countChunk('watched', 0, { succeeded: 0, failed: 1, cancelled: 0 });
    await store.finish('watched', 'FAILED');
    const deps = {
      store,
      sqs: { send: () => Promise.reject(new Error('an ended job is not checked again')) },
      submissionsQueueUrl: 'unused',
      stallTimeoutSeconds: 60,
    };

    const check = await liveCheck(store, 'watched');
    await checkJob(deps, check, 'check');
    await checkJob(deps, check, 'check');

    expect(eventsOf('watched')).toHaveLength(1);
  });

  it('leaves the job unnotified when EventBridge fails the entry, and publishes it on the next delivery', async () => {
    // Prepare: a bus the emulator does not serve fails the entry.
    process.env[BATCH_EVENT_BUS_NAME] = 'no-such-bus';
    await store.createJob(newJob('refused', 1));
    const result = await store.putResult('refused', { chunk: 0, results: failed(0) });
    const job = (await store.getJobRecord('refused'))!;

    // Act
    const first = countResult(store, job, result);
    await expect(first).rejects.toThrow(/InvalidArgument/);
    const unnotified = await store.getJobRecord('refused');
    process.env[BATCH_EVENT_BUS_NAME] = BUS;
    await countResult(store, job, result);

    // Assess
    expect(unnotified).toMatchObject({ status: 'FAILED' });
    expect(unnotified?.notifiedAt).toBeUndefined();
    expect(eventsOf('refused')).toHaveLength(1);
  });

  it('publishes the end of a retry again, as an event of the next attempt', async () => {
    await runJob('retried', 1);
    expect(await store.startRetry('retried', 1, [0])).toBe(true);
    const job = (await store.getJob('retried'))!;
    await store.putRetryResult('retried', { chunk: 0, results: failed(0), attempt: 1, recovered: 0 });
    const { countRetry } = await import('../../functions/batch/accounting');
    await countRetry(store, job, 0, 1, 0);

    expect(eventsOf('retried').map((e) => (e.detail as { attempt: number }).attempt)).toEqual([0, 1]);
  });

  describe("PutEvents' validation", () => {
    const entry = { EventBusName: BUS, Source: 'test', DetailType: 'Probe', Detail: '{"a":1}' };

    it('accepts 1 to 10 entries and refuses a request of none or more', async () => {
      const ten = await client.send(
        new PutEventsCommand({ Entries: Array.from({ length: 10 }, () => entry) }),
      );
      expect(ten.FailedEntryCount).toBe(0);
      expect(ten.Entries?.every((e) => e.EventId)).toBe(true);
      await expect(
        client.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry) })),
      ).rejects.toMatchObject({ name: 'ValidationException' });
      await expect(client.send(new PutEventsCommand({ Entries: [] }))).rejects.toMatchObject({
        name: 'ValidationException',
      });
    });

    it('refuses entries that reach 1 MB together, and takes what 256 KB refused before 2026', async () => {
      const half = { ...entry, Detail: JSON.stringify({ a: 'x'.repeat(512 * 1024) }) };
      await expect(client.send(new PutEventsCommand({ Entries: [half, half] }))).rejects.toMatchObject({
        name: 'ValidationException',
      });
      const under = await client.send(new PutEventsCommand({ Entries: [half] }));
      expect(under.FailedEntryCount).toBe(0);
    });

    it('fails each entry without Source, DetailType or Detail, or with a Detail that is not a JSON object', async () => {
      const answer = await client.send(
        new PutEventsCommand({
          Entries: [
            entry,
            { ...entry, Source: undefined },
            { ...entry, DetailType: undefined },
            { ...entry, Detail: undefined },
            { ...entry, Detail: '{not json' },
            { ...entry, Detail: '[1]' },
          ],
        }),
      );
      expect(answer.FailedEntryCount).toBe(5);
      expect(answer.Entries?.map((e) => e.ErrorCode ?? 'ok')).toEqual([
        'ok',
        'InvalidArgument',
        'InvalidArgument',
        'InvalidArgument',
        'MalformedDetail',
        'MalformedDetail',
      ]);
    });
  });
});
