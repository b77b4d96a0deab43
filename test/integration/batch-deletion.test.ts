import { type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchResultsPrefix } from '../../contracts/batch-data';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { BatchApiStore, type NewJob } from '../../functions/batch/batch-store';
import { deleteJob } from '../../functions/batch/deletion';
import { retryJob } from '../../functions/batch/retry';
import { submitJob } from '../../functions/batch/submission';
import { ConflictError, NotFoundError } from '../../functions/edge/errors';
import type { Principal } from '../../functions/edge/principal';
import { createBatchTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { type LocalS3, startS3 } from '../../local/aws/s3';
import { localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_VERSION } from '../helpers/simple-model';

const alice: Principal = { sub: 'alice', scopes: ['batch:submit', 'batch:read'], tier: 'standard' };
const admin: Principal = { sub: 'operator', scopes: ['admin', 'batch:submit'], tier: 'standard' };

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

describe('DELETE of a batch job: its results objects and every item of its partition', () => {
  let dynamo: LocalDynamoDb;
  let dynamodb: DynamoDBClient;
  let s3: LocalS3;
  let store: BatchApiStore;
  const bucket = 'batch-data';

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    dynamodb = localDynamoDb(dynamo.url);
    await createBatchTable(dynamodb, 'batch');
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket(bucket);
    store = new BatchApiStore(dynamodb, 'batch');
  });

  afterAll(async () => {
    await s3?.close();
    await dynamo?.close();
  });

  /**
   * A job of `chunks` one-item chunks, each with its chunk item, its result and a results object;
   * ended (`finish`) with its end recorded (`notify`) unless told otherwise.
   */
  async function finishedJob(jobId: string, chunks: number, finish = true, notify = true): Promise<void> {
    for (let chunk = 0; chunk < chunks; chunk++) {
      await store.putChunk({ jobId, chunkSet: 'set' }, chunk, { first: chunk, items: [] });
    }
    await store.createJob(newJob(jobId, chunks));
    for (let chunk = 0; chunk < chunks; chunk++) {
      await store.putResult(jobId, { chunk, results: [{ index: chunk, error: 'e' }] });
      await store.countChunk(jobId, chunk, { succeeded: 0, failed: 1, cancelled: 0 });
      await s3.client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `${batchResultsPrefix(jobId)}part-${chunk}.jsonl`,
          Body: 'x',
        }),
      );
    }
    if (finish) {
      expect(await store.finish(jobId, 'FAILED')).toBe(true);
      if (notify) await recordEnd(jobId);
    }
  }

  /** What `completeEnd` records last, once the job's manifest and event are out. */
  async function recordEnd(jobId: string): Promise<void> {
    const ended = await store.getJobRecord(jobId);
    expect(await store.markNotified(jobId, ended!.completedAt!)).toBe(true);
  }

  async function partition(jobId: string): Promise<number> {
    const { Count = 0 } = await dynamodb.send(
      new QueryCommand({
        TableName: 'batch',
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: `JOB#${jobId}` } },
        ConsistentRead: true,
      }),
    );
    return Count;
  }

  async function objects(prefix: string): Promise<number> {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return page.KeyCount ?? 0;
  }

  const deps = () => ({ store, s3: s3.client, bucket });

  it('deletes a finished job, its items and its results objects, and answers a repeat as gone', async () => {
    // Prepare: another job's objects share the bucket and must stay.
    await finishedJob('done', 3);
    await finishedJob('done-other', 1);
    expect(await partition('done')).toBe(7);
    expect(await objects(batchResultsPrefix('done'))).toBe(3);

    // Act
    await deleteJob(deps(), alice, 'done');
    const repeat = deleteJob(deps(), alice, 'done');

    // Assess
    await expect(repeat).rejects.toBeInstanceOf(NotFoundError);
    expect(await partition('done')).toBe(0);
    expect(await objects(batchResultsPrefix('done'))).toBe(0);
    expect(await store.getJob('done')).toBeUndefined();
    expect(await partition('done-other')).toBe(3);
    expect(await objects(batchResultsPrefix('done-other'))).toBe(1);
  });

  it('refuses a job that has not ended, and hides the job from anyone but its owner', async () => {
    await finishedJob('running', 2, false);
    await finishedJob('owned', 1);

    await expect(deleteJob(deps(), alice, 'running')).rejects.toBeInstanceOf(ConflictError);
    await expect(deleteJob(deps(), alice, 'running')).rejects.toThrow(/cancel/);
    await expect(deleteJob(deps(), admin, 'owned')).rejects.toBeInstanceOf(NotFoundError);
    expect(await partition('running')).toBe(5);
    expect(await objects(batchResultsPrefix('running'))).toBe(2);
    expect(await partition('owned')).toBe(3);
  });

  it('finishes a deletion that stopped half way when it is repeated, and no retry starts meanwhile', async () => {
    // Prepare: a store whose deletes fail after the first few, as a function that times out would stop.
    await finishedJob('torn', 4);
    let deletes = 0;
    const dying = {
      send: (command: { constructor: { name: string } }) => {
        if (command.constructor.name === 'DeleteItemCommand' && ++deletes > 3) {
          return Promise.reject(new Error('the function ran out of time'));
        }
        return dynamodb.send(command as never);
      },
    } as unknown as DynamoDBClient;

    // Act
    const torn = deleteJob({ ...deps(), store: new BatchApiStore(dying, 'batch') }, alice, 'torn');
    await expect(torn).rejects.toThrow('ran out of time');
    // The deletes sent beside the failed one land.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const halfway = await partition('torn');
    const retry = await store.startRetry('torn', 1, [0]);
    await deleteJob(deps(), alice, 'torn');

    // Assess: the job item stayed until the end, so the repeat could finish.
    expect(halfway).toBe(9 - 3);
    expect(await store.getJob('torn')).toBeUndefined();
    expect(retry).toBe(false);
    expect(await partition('torn')).toBe(0);
    expect(await objects(batchResultsPrefix('torn'))).toBe(0);
  });

  it('refuses a job whose end is still being recorded, so no manifest written meanwhile outlives it', async () => {
    await finishedJob('ending', 2, true, false);

    const refused = deleteJob(deps(), alice, 'ending');
    await expect(refused).rejects.toBeInstanceOf(ConflictError);
    await expect(refused).rejects.toThrow(/still being recorded/);
    expect(await partition('ending')).toBe(5);
    expect(await objects(batchResultsPrefix('ending'))).toBe(2);

    await recordEnd('ending');
    await deleteJob(deps(), alice, 'ending');
    expect(await partition('ending')).toBe(0);
  });

  it("takes a deleted job out of its owner's window, which a worker still releasing it never would", async () => {
    await finishedJob('paced', 1);
    await finishedJob('paced-other', 1);
    await store.joinPacing('alice', 'paced');
    await store.joinPacing('alice', 'paced-other');

    await deleteJob(deps(), alice, 'paced');

    expect(await store.pacedJobs('alice')).toEqual(['paced-other']);
  });

  it('answers a retry under a deletion that the job is being deleted, and one after it that it is not found', async () => {
    await finishedJob('going', 1);
    expect(await store.markDeleting('going')).toBe(true);
    const retry = () =>
      retryJob({ store, sqs: { send: async () => ({}) }, submissionsQueueUrl: 'retries' }, alice, 'going');

    await expect(retry()).rejects.toBeInstanceOf(ConflictError);
    await expect(retry()).rejects.toThrow(/is being deleted/);
    await deleteJob(deps(), alice, 'going');
    await expect(retry()).rejects.toBeInstanceOf(NotFoundError);
  });

  it('answers a resubmission under a deletion that the job is being deleted, and takes one after it as a new job', async () => {
    const version: ModelVersion = { ...SIMPLE_VERSION, maxBatchSize: 4 };
    const models = {
      getModel: async () => ({ name: 'simple', createdAt: '', versions: [version], aliases: [] }),
    };
    const tensor = (name: string) => ({
      name,
      shape: [1, 16],
      datatype: 'INT32' as const,
      data: Array(16).fill(1),
    });
    const submission = { model: 'simple', items: [{ inputs: [tensor('INPUT0'), tensor('INPUT1')] }] };
    const submit = () => submitJob(store, models, { owner: 'alice', jobId: 'keyed', submission });
    const { job } = await submit();
    await store.countChunk(job.jobId, 0, { succeeded: 1, failed: 0, cancelled: 0 });
    expect(await store.finish(job.jobId, 'SUCCEEDED')).toBe(true);
    await recordEnd(job.jobId);
    expect(await store.markDeleting(job.jobId)).toBe(true);

    await expect(submit()).rejects.toBeInstanceOf(ConflictError);
    await expect(submit()).rejects.toThrow(/is being deleted/);
    await deleteJob(deps(), alice, job.jobId);
    await expect(submit()).resolves.toMatchObject({
      created: true,
      job: { jobId: 'keyed', status: 'QUEUED' },
    });
  });
});
