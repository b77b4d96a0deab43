import { type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_KEYS } from '../../contracts/table-keys';
import type { ItemResult } from '../../functions/batch/api-schemas';
import { BatchApiStore, MAX_RESULT_PART_BYTES, type NewJob } from '../../functions/batch/batch-store';
import { checkJob } from '../../functions/batch/stall-watch';
import { ConflictError } from '../../functions/edge/errors';
import { createBatchTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { liveCheck } from '../helpers/batch-jobs';
import { localDynamoDb } from '../helpers/local-clients';

const RETENTION = 3_600;
const START = Date.parse('2026-03-01T00:00:00.000Z');
const seconds = (ms: number) => Math.floor(ms / 1000);

function newJob(jobId: string, owner = 'alice'): NewJob {
  return {
    jobId,
    owner,
    model: 'simple',
    version: '1',
    total: 2,
    chunks: 2,
    createdAt: new Date(START).toISOString(),
    fingerprint: 'f',
    chunkSet: 'set',
  };
}

describe('batch retention: every item of a job expires, and an expired job is gone', () => {
  let dynamo: LocalDynamoDb;
  let dynamodb: DynamoDBClient;
  let clock = START;
  let store: BatchApiStore;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    dynamodb = localDynamoDb(dynamo.url);
    await createBatchTable(dynamodb, 'batch');
    store = new BatchApiStore(dynamodb, 'batch', () => new Date(clock), RETENTION);
  });

  afterAll(async () => {
    await dynamo?.close();
  });

  async function partition(pk: string): Promise<Record<string, unknown>[]> {
    const { Items = [] } = await dynamodb.send(
      new QueryCommand({
        TableName: 'batch',
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: pk } },
        ConsistentRead: true,
      }),
    );
    return Items.map((item) => unmarshall(item));
  }

  it('stamps the job, its chunks, its results (parts included) and the pacing item with an expiry', async () => {
    // Prepare: a result too large for one item, so that it is stored in parts.
    clock = START;
    const big = 'x'.repeat(MAX_RESULT_PART_BYTES / 2);
    const results: ItemResult[] = [0, 1, 2].map((index) => ({ index, error: big }));

    // Act: every write a running job makes.
    await store.putChunk({ jobId: 'stamped', chunkSet: 'set' }, 0, { first: 0, items: [] });
    await store.createJob(newJob('stamped'));
    await store.joinPacing('alice', 'stamped');
    clock = START + 60_000;
    await store.putResult('stamped', { chunk: 0, results });
    await store.putResult('stamped', { chunk: 1, results: [{ index: 3, error: 'e' }] });

    // Assess: everything written while the job may run outlives three retentions from its writing.
    const items = await partition('JOB#stamped');
    expect(items.map((i) => i.sk).filter((sk) => String(sk).startsWith('RESULT#000000#'))).toHaveLength(2);
    for (const item of items) {
      const written = String(item.sk).startsWith('RESULT#') ? START + 60_000 : START;
      expect(item[BATCH_KEYS.ttlAttribute], String(item.sk)).toBe(seconds(written) + 3 * RETENTION);
    }
    const [pacing] = await partition('PACING#alice');
    expect(pacing?.[BATCH_KEYS.ttlAttribute]).toBe(seconds(START) + 3 * RETENTION);
  });

  it('keeps a finished job one retention after it ends, then answers it as gone', async () => {
    // Prepare
    clock = START;
    await store.createJob(newJob('ended'));
    clock = START + 120_000;

    // Act
    expect(await store.finish('ended', 'SUCCEEDED')).toBe(true);
    const [job] = (await partition('JOB#ended')).filter((i) => i.sk === '#JOB');
    const before = await store.getJob('ended');
    const listedBefore = await store.listJobs('alice', 50);
    clock = START + 120_000 + RETENTION * 1000;
    const after = await store.getJob('ended');
    const listedAfter = await store.listJobs('alice', 50);

    // Assess: still stored (TTL deletes late), but no longer a job.
    expect(job?.[BATCH_KEYS.ttlAttribute]).toBe(seconds(START + 120_000) + RETENTION);
    expect(before).toMatchObject({ jobId: 'ended', status: 'SUCCEEDED' });
    expect(listedBefore.items.map((j) => j.jobId)).toContain('ended');
    expect(after).toBeUndefined();
    expect(listedAfter.items.map((j) => j.jobId)).not.toContain('ended');
    expect(await partition('JOB#ended')).toHaveLength(1);
    await expect(store.createJob(newJob('ended'))).rejects.toBeInstanceOf(ConflictError);
  });

  it('lets a retry start only before the run deadline, and keeps a retried job as a running one', async () => {
    // Prepare: two finished jobs with failures.
    clock = START;
    await store.createJob(newJob('early'));
    await store.createJob(newJob('late'));
    await store.finish('early', 'FAILED');
    await store.finish('late', 'FAILED');

    // Act
    clock = START + (RETENTION - 1) * 1000;
    const early = await store.startRetry('early', 1, [0]);
    const [retried] = (await partition('JOB#early')).filter((i) => i.sk === '#JOB');
    clock = START + RETENTION * 1000 + 1;
    const late = await store.startRetry('late', 1, [0]);

    // Assess
    expect(early).toBe(true);
    expect(retried?.[BATCH_KEYS.ttlAttribute]).toBe(seconds(START) + RETENTION - 1 + 3 * RETENTION);
    expect(late).toBe(false);
    expect(store.runDeadline(new Date(START).toISOString())).toBe(START + RETENTION * 1000);
  });

  it('has the stall watch end a job that runs past its deadline, however it progresses', async () => {
    // Prepare: a running job submitted one retention ago, whose chunk never got an outcome.
    clock = START;
    await store.putChunk({ jobId: 'overdue', chunkSet: 'set' }, 0, { first: 0, items: [{ inputs: [] }] });
    await store.createJob({ ...newJob('overdue'), total: 1, chunks: 1 });
    await store.markRunning('overdue');
    const deps = {
      store,
      sqs: { send: () => Promise.reject(new Error('an overdue job is not checked again')) },
      submissionsQueueUrl: 'unused',
      stallTimeoutSeconds: 7_200,
      now: () => clock,
    };

    // Act: the job moved since the last check (which would only schedule the next) but is overdue.
    clock = START + RETENTION * 1000;
    await checkJob(deps, await liveCheck(store, 'overdue', { updatedAt: 'earlier', since: START }), 'check');

    // Assess
    expect(await store.getJob('overdue')).toMatchObject({ status: 'FAILED', failed: 1 });
    expect((await store.listResults('overdue', 10)).items).toEqual([
      { index: 0, error: 'the job ran past its deadline of one batch retention period after its submission' },
    ]);
  });
});
