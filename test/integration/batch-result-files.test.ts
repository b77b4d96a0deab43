import { type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { completeEnd } from '../../functions/batch/accounting';
import type { ItemResult, SubmitBatchJob } from '../../functions/batch/api-schemas';
import { BatchStore } from '../../functions/batch/batch-store';
import { failUnrecorded } from '../../functions/batch/dead-letters';
import { resultLinks } from '../../functions/batch/result-links';
import {
  type PartLine,
  type ResultFiles,
  type ResultManifest,
  resultManifestKey,
  resultPartKey,
} from '../../functions/batch/result-parts';
import { retryJob } from '../../functions/batch/retry';
import { submitJob } from '../../functions/batch/submission';
import { processChunk, type WorkerDependencies } from '../../functions/batch/worker';
import type { Principal } from '../../functions/edge/principal';
import { ModelCache } from '../../functions/registry/model-cache';
import { ModelRegistry } from '../../functions/registry/registry';
import {
  createBatchTable,
  createRegistryTable,
  type LocalDynamoDb,
  startDynamoDb,
} from '../../local/aws/dynamodb';
import { type LocalS3, startS3 } from '../../local/aws/s3';
import { alwaysClosed, readObject, resultLines } from '../helpers/batch-jobs';
import { invocationInputs } from '../helpers/invocation';
import { localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const delivery = { receiveCount: 1 };
const Bucket = 'batch-data';
const alice: Principal = { sub: 'alice', scopes: ['batch:submit', 'batch:read'], tier: 'standard' };

/** Four items a chunk: ten items make chunks of 4, 4 and 2. */
const model: ModelVersion = {
  name: 'simple',
  version: '1',
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  maxBatchSize: 4,
  backends: [{ endpointName: 'simple', targetModel: 'simple.tar.gz', weight: 100 }],
  status: 'ACTIVE',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

describe('S3 job results: JSONL parts and a manifest', () => {
  let dynamo: LocalDynamoDb;
  let dynamodb: DynamoDBClient;
  let s3: LocalS3;
  let store: BatchStore;
  let files: ResultFiles;
  let deps: WorkerDependencies;
  /** Items whose INPUT0 is negative are refused by the model until this is set. */
  let healed = false;
  /** When set, every model call waits for it before it answers. */
  let gate: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    dynamodb = localDynamoDb(dynamo.url);
    await createRegistryTable(dynamodb, 'registry');
    await createBatchTable(dynamodb, 'batch');
    const registry = new ModelRegistry(dynamodb, 'registry');
    await registry.putVersion(model);
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket(Bucket);
    files = { s3: s3.client, bucket: Bucket };
    // OUTPUT0 = INPUT0 + 1; a refused row answers as Triton's 400 does, through SageMaker's ModelError.
    const sagemaker = {
      send: async (command: InvokeEndpointCommand) => {
        await gate?.();
        const inputs = invocationInputs(command);
        const data = Array.from(inputs[0]!.data as ArrayLike<number>);
        if (!healed && data.some((v) => v < 0)) {
          throw Object.assign(new Error('negative input'), {
            name: 'ModelError',
            OriginalStatusCode: 400,
            OriginalMessage: 'negative input',
          });
        }
        const outputs = [
          { name: 'OUTPUT0', datatype: 'INT32', shape: inputs[0]!.shape, data: data.map((v) => v + 1) },
        ];
        return {
          Body: new TextEncoder().encode(JSON.stringify({ outputs })),
          ContentType: 'application/json',
        };
      },
    } as unknown as SageMakerRuntimeClient;
    store = new BatchStore(dynamodb, 'batch');
    deps = {
      store,
      models: new ModelCache(registry, { ttlMs: 0 }),
      inference: { sagemaker, circuits: alwaysClosed, timeoutMs: 10_000 },
      outage: {
        budgetSeconds: 900,
        defer: async () => {
          throw new Error('no chunk should be deferred here');
        },
      },
      resultFiles: files,
    };
  });

  afterAll(async () => {
    await s3?.close();
    await dynamo?.close();
  });

  /** Item i has INPUT0 of `value(i)`; item ids are `item-<i>`. */
  function submission(count: number, value: (i: number) => number = (i) => i): SubmitBatchJob {
    return {
      model: 'simple',
      results: 's3',
      items: Array.from({ length: count }, (_, i) => ({
        id: `item-${i}`,
        inputs: [
          {
            name: 'INPUT0',
            shape: [1, 16],
            datatype: 'INT32',
            data: Array.from({ length: 16 }, () => value(i)),
          },
          { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 0) },
        ],
      })),
    };
  }

  async function submit(jobId: string, body: SubmitBatchJob) {
    const { job } = await submitJob(store, deps.models, {
      owner: 'alice',
      jobId,
      submission: body,
      chunkItems: model.maxBatchSize,
    });
    return job;
  }

  const read = (key: string) => readObject(s3.client, Bucket, key);
  const manifestOf = async (jobId: string) =>
    JSON.parse(await read(resultManifestKey(jobId))) as ResultManifest;
  const lines = (jobId: string) => resultLines(s3.client, Bucket, jobId);

  it('writes one line per item in item order across parts, a manifest, and no result items', async () => {
    const job = await submit('s3-order', submission(10));
    expect(job).toMatchObject({ resultsTo: 's3', chunks: 3 });
    // Out of order, as concurrent workers finish.
    for (const chunk of [2, 0, 1]) await processChunk(deps, { jobId: job.jobId, chunk }, delivery);

    expect(await store.getJob(job.jobId)).toMatchObject({ status: 'SUCCEEDED', succeeded: 10 });
    const all = await lines(job.jobId);
    expect(all.map((r) => r.index)).toEqual([...Array(10).keys()]);
    expect(all[3]).toEqual({
      index: 3,
      id: 'item-3',
      outputs: [expect.objectContaining({ data: Array(16).fill(4) })],
    });

    const manifest = await manifestOf(job.jobId);
    expect(manifest).toMatchObject({
      jobId: job.jobId,
      status: 'SUCCEEDED',
      total: 10,
      succeeded: 10,
      failed: 0,
    });
    expect(manifest.parts.map(({ key, first, items }) => ({ key, first, items }))).toEqual([
      { key: resultPartKey(job.jobId, 0), first: 0, items: 4 },
      { key: resultPartKey(job.jobId, 1), first: 4, items: 4 },
      { key: resultPartKey(job.jobId, 2), first: 8, items: 2 },
    ]);
    for (const part of manifest.parts) {
      expect(part.bytes).toBe(Buffer.byteLength(await read(part.key)));
    }
    expect(resultPartKey(job.jobId, 1)).toBe(`results/${job.jobId}/part-000001.jsonl`);

    // DynamoDB keeps the job and its chunks, not the outputs.
    const { Items } = await dynamodb.send(
      new QueryCommand({
        TableName: 'batch',
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :result)',
        ExpressionAttributeValues: { ':pk': { S: `JOB#${job.jobId}` }, ':result': { S: 'RESULT#' } },
      }),
    );
    expect(Items).toEqual([]);
  });

  it("links an ended job's parts as presigned GETs, a page at a time, and refuses a running job", async () => {
    const job = await submit('s3-links', submission(10));
    await processChunk(deps, { jobId: job.jobId, chunk: 0 }, delivery);
    await expect(resultLinks(files, (await store.getJob(job.jobId))!, 2)).rejects.toMatchObject({
      statusCode: 409,
    });
    for (const chunk of [1, 2]) await processChunk(deps, { jobId: job.jobId, chunk }, delivery);

    const ended = (await store.getJob(job.jobId))!;
    const first = await resultLinks(files, ended, 2);
    expect(first).toMatchObject({ status: 'SUCCEEDED', total: 10, succeeded: 10, expiresInSeconds: 900 });
    expect(first.parts.map((p) => p.first)).toEqual([0, 4]);
    const second = await resultLinks(files, ended, 2, first.nextToken);
    expect(second.parts.map((p) => p.first)).toEqual([8]);
    expect(second.nextToken).toBeUndefined();
    const texts = await Promise.all(
      [...first.parts, ...second.parts].map(async (part) => {
        expect(new URL(part.url).searchParams.get('X-Amz-Expires')).toBe('900');
        const response = await fetch(part.url);
        expect(response.status).toBe(200);
        return response.text();
      }),
    );
    const indices = texts
      .join('')
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as ItemResult).index);
    expect(indices).toEqual([...Array(10).keys()]);
  });

  it('counts a redelivered chunk once, from its part', async () => {
    const job = await submit('s3-redelivery', submission(6));
    await processChunk(deps, { jobId: job.jobId, chunk: 0 }, delivery);
    const key = resultPartKey(job.jobId, 0);
    const first = await read(key);
    await processChunk(deps, { jobId: job.jobId, chunk: 0 }, { receiveCount: 2 });
    expect(await read(key)).toBe(first);
    expect(await store.getJob(job.jobId)).toMatchObject({ succeeded: 4, failed: 0 });
    await processChunk(deps, { jobId: job.jobId, chunk: 1 }, delivery);
    expect(await store.getJob(job.jobId)).toMatchObject({ status: 'SUCCEEDED', succeeded: 6, failed: 0 });
    expect((await lines(job.jobId)).map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('counts what the part records when two deliveries of a chunk run at once and the model answers them differently', async () => {
    healed = false;
    // Every item is refused until the model heals; chunk 0 holds items 0-3, chunk 1 items 4-5.
    const job = await submit(
      's3-race',
      submission(6, (i) => -i - 1),
    );
    const work = { jobId: job.jobId, chunk: 0 };

    /**
     * Both deliveries past their read of the part (none, or the first run's) and waiting on the
     * model; the delivery whose call is answered first, while the model refuses, runs to its end,
     * then the other is answered by the healed model.
     */
    async function raceTwo(first: Promise<unknown>, second: Promise<unknown>) {
      const waiting: (() => void)[] = [];
      let bothWaiting!: () => void;
      const held = new Promise<void>((resolve) => {
        bothWaiting = resolve;
      });
      gate = () =>
        waiting.length < 2
          ? new Promise<void>((release) => {
              waiting.push(release);
              if (waiting.length === 2) bothWaiting();
            })
          : Promise.resolve();
      await held;
      healed = false;
      waiting[0]!();
      await Promise.race([first, second]);
      healed = true;
      waiting[1]!();
      await Promise.all([first, second]);
      gate = undefined;
    }
    /** The job's counters are what its parts hold, and add up to its total. */
    async function countsArePartsOf(jobId: string) {
      const ended = (await store.getJob(jobId))!;
      const all = await lines(jobId);
      expect(ended).toMatchObject({
        succeeded: all.filter((r) => 'outputs' in r).length,
        failed: all.filter((r) => 'error' in r).length,
        cancelled: 0,
      });
      expect(ended.succeeded + ended.failed + ended.cancelled).toBe(ended.total);
      return ended;
    }

    await raceTwo(processChunk(deps, work, delivery), processChunk(deps, work, { receiveCount: 2 }));
    await processChunk(deps, { jobId: job.jobId, chunk: 1 }, delivery);
    // The first delivery's refusals are recorded and counted; the second's answers are not.
    expect(await countsArePartsOf(job.jobId)).toMatchObject({
      status: 'COMPLETED_WITH_ERRORS',
      succeeded: 2,
      failed: 4,
    });

    const sqs = { send: async () => undefined };
    await retryJob({ store, sqs, submissionsQueueUrl: 'submissions', resultFiles: files }, alice, job.jobId);
    const retry = { ...work, attempt: 1 };
    await raceTwo(processChunk(deps, retry, delivery), processChunk(deps, retry, { receiveCount: 2 }));
    // The retry's first delivery recovered nothing; the second's recoveries are not recorded.
    expect(await countsArePartsOf(job.jobId)).toMatchObject({
      status: 'COMPLETED_WITH_ERRORS',
      succeeded: 2,
      failed: 4,
    });
    expect(await manifestOf(job.jobId)).toMatchObject({ succeeded: 2, failed: 4 });
    // The lines the retry took on name it.
    expect((await lines(job.jobId)).map((r) => (r as PartLine).attempt)).toEqual([
      1,
      1,
      1,
      1,
      undefined,
      undefined,
    ]);
  });

  it('gives cancelled items a line each, and a stall fails the chunks no worker recorded', async () => {
    const job = await submit('s3-cancel', submission(10));
    await processChunk(deps, { jobId: job.jobId, chunk: 0 }, delivery);
    expect(await store.requestCancel(job.jobId)).toBe(true);
    await processChunk(deps, { jobId: job.jobId, chunk: 1 }, delivery);
    // Chunk 2's work never arrives: the stall watch ends the job.
    const record = (await store.getJobRecord(job.jobId))!;
    await failUnrecorded(store, record, undefined, 'the job made no progress', files);

    const ended = await store.getJob(job.jobId);
    expect(ended).toMatchObject({ status: 'CANCELLED', succeeded: 4, cancelled: 6, failed: 0 });
    const all = await lines(job.jobId);
    expect(all).toHaveLength(10);
    expect(all.slice(4).every((r) => 'cancelled' in r && r.cancelled === true)).toBe(true);
    expect((await manifestOf(job.jobId)).cancelled).toBe(6);
  });

  it('writes the manifest before the job-ended event, and again until the event is sent', async () => {
    // Prepare: a job ended by a call that died before its manifest (no bus here, so none recorded an event).
    const job = await submit('s3-announced', submission(6));
    for (const chunk of [0, 1]) await processChunk(deps, { jobId: job.jobId, chunk }, delivery);
    await s3.client.send(new DeleteObjectCommand({ Bucket, Key: resultManifestKey(job.jobId) }));

    // Act: whoever next finds the job ended completes its end; the event's sender looks for the manifest.
    const seen: (ResultManifest | undefined)[] = [];
    const send = async () => {
      seen.push(await manifestOf(job.jobId).catch(() => undefined));
    };
    await completeEnd(store, files, job.jobId, send);
    await completeEnd(store, files, job.jobId, send);

    // Assess: the manifest was there when the event went, and once the event is recorded the end is complete.
    expect(seen).toEqual([expect.objectContaining({ jobId: job.jobId, status: 'SUCCEEDED', succeeded: 6 })]);
    expect((await store.getJobRecord(job.jobId))?.notifiedAt).toBeDefined();
  });

  it('records items failed by a stall as lines with the reason', async () => {
    const job = await submit('s3-stall', submission(6));
    await processChunk(deps, { jobId: job.jobId, chunk: 1 }, delivery);
    await failUnrecorded(store, (await store.getJobRecord(job.jobId))!, undefined, 'stalled', files);
    const all = await lines(job.jobId);
    expect(all.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(all.slice(0, 4)).toEqual(
      [0, 1, 2, 3].map((index) => ({ index, id: `item-${index}`, error: 'stalled' })),
    );
    expect((await manifestOf(job.jobId)).status).toBe('COMPLETED_WITH_ERRORS');
  });

  it('rewrites a retried chunk so the output holds one line per item, the retried ones succeeded', async () => {
    healed = false;
    // Items 1 and 9 are refused until the model heals.
    const job = await submit(
      's3-retry',
      submission(10, (i) => (i === 1 || i === 9 ? -i : i)),
    );
    for (let chunk = 0; chunk < 3; chunk++) await processChunk(deps, { jobId: job.jobId, chunk }, delivery);
    expect(await store.getJob(job.jobId)).toMatchObject({ status: 'COMPLETED_WITH_ERRORS', failed: 2 });
    const before = await lines(job.jobId);
    expect(before.filter((r) => 'error' in r).map((r) => r.index)).toEqual([1, 9]);

    healed = true;
    const sent: unknown[] = [];
    const sqs = { send: async (command: unknown) => void sent.push(command) };
    await retryJob({ store, sqs, submissionsQueueUrl: 'submissions', resultFiles: files }, alice, job.jobId);
    const record = (await store.getJobRecord(job.jobId))!;
    expect([...record.retryChunks].sort()).toEqual([0, 2]);
    for (const chunk of record.retryChunks) {
      await processChunk(deps, { jobId: job.jobId, chunk, attempt: 1 }, delivery);
      // A redelivery of the retry's work changes nothing.
      await processChunk(deps, { jobId: job.jobId, chunk, attempt: 1 }, { receiveCount: 2 });
    }

    expect(await store.getJob(job.jobId)).toMatchObject({ status: 'SUCCEEDED', succeeded: 10, failed: 0 });
    const after = await lines(job.jobId);
    expect(after.map((r) => r.index)).toEqual([...Array(10).keys()]);
    expect(after.every((r) => 'outputs' in r)).toBe(true);
    expect(after[1]).toMatchObject({ index: 1, id: 'item-1', outputs: [{ data: Array(16).fill(0) }] });
    const manifest = await manifestOf(job.jobId);
    expect(manifest).toMatchObject({ status: 'SUCCEEDED', succeeded: 10, failed: 0 });
    // One part per chunk, whatever the attempts.
    const listed = await s3.client.send(
      new ListObjectsV2Command({ Bucket, Prefix: `results/${job.jobId}/` }),
    );
    expect(listed.Contents?.map((o) => o.Key)).toEqual([
      resultManifestKey(job.jobId),
      resultPartKey(job.jobId, 0),
      resultPartKey(job.jobId, 1),
      resultPartKey(job.jobId, 2),
    ]);
  });
});
