import { type DynamoDBClient, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSignature } from '../../contracts/model-signature';
import type { ModelVersion } from '../../contracts/registry-schemas';
import type { ItemResult, SubmitBatchJob } from '../../functions/batch/api-schemas';
import { BatchApiStore, RESULTS_PAGE_BYTES } from '../../functions/batch/batch-store';
import { submitJob } from '../../functions/batch/submission';
import { processChunk, type WorkerDependencies } from '../../functions/batch/worker';
import type { InputTensor, OutputTensor } from '../../functions/inference/protocol';
import { ModelCache } from '../../functions/registry/model-cache';
import { ModelRegistry } from '../../functions/registry/registry';
import {
  createBatchTable,
  createRegistryTable,
  type LocalDynamoDb,
  startDynamoDb,
} from '../../local/aws/dynamodb';
import { allResults, alwaysClosed } from '../helpers/batch-jobs';
import { invocationInputs } from '../helpers/invocation';
import { localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const delivery = { receiveCount: 1 };
const version = (name: string, signature: ModelSignature): ModelVersion => ({
  name,
  version: '1',
  platform: 'onnxruntime_onnx',
  ...signature,
  backends: [{ endpointName: name, targetModel: `${name}.tar.gz`, weight: 100 }],
  status: 'ACTIVE',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

/** What each stub endpoint answers for a batch of `rows` items; `call` counts the endpoint's answers. */
type Answer = (inputs: readonly InputTensor[], call: number) => OutputTensor[];

/** The largest 32-bit integer outputs: 11 characters an element, as the longest INT32 JSON. */
const longestInt32: Answer = (inputs) => {
  const rows = inputs[0]!.shape[0]!;
  const data = Array.from({ length: rows * 16 }, () => -2147483648);
  return [
    { name: 'OUTPUT0', datatype: 'INT32', shape: [rows, 16], data },
    { name: 'OUTPUT1', datatype: 'INT32', shape: [rows, 16], data },
  ];
};

/** About 120 KB of JSON per item: several items' outputs are more than one result item holds. */
const wideFloats: Answer = (inputs, call) => {
  const rows = inputs[0]!.shape[0]!;
  const data = Array.from({ length: rows * 6000 }, (_, i) => call + i / 3);
  return [{ name: 'EMBEDDING', datatype: 'FP64', shape: [rows, 6000], data }];
};

/** One label per item; item `item-2`'s label alone is larger than a result item. */
const labels: Answer = (inputs) => {
  const rows = inputs[0]!.shape[0]!;
  const first = inputs[0]!.data as number[];
  const data = Array.from({ length: rows }, (_, r) =>
    first[r * 16] === 2 ? 'x'.repeat(400_000) : `label-${r}`,
  );
  return [{ name: 'LABEL', datatype: 'BYTES', shape: [rows, 1], data }];
};

/** Chunks of one of the simple signature's batches (8 items), as these tests count them. */
const CHUNK_ITEMS = SIMPLE_SIGNATURE.maxBatchSize;

const answers: Record<string, Answer> = { 'big-batch': longestInt32, wide: wideFloats, labelled: labels };

describe('chunk results larger than one result item', () => {
  let dynamo: LocalDynamoDb;
  let dynamodb: DynamoDBClient;
  let store: BatchApiStore;
  let deps: WorkerDependencies;
  let calls = 0;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    dynamodb = localDynamoDb(dynamo.url);
    await createRegistryTable(dynamodb, 'registry');
    await createBatchTable(dynamodb, 'batch');
    const registry = new ModelRegistry(dynamodb, 'registry');
    // Fixed outputs and large batches: the planner bounds the results.
    await registry.putVersion(version('big-batch', { ...SIMPLE_SIGNATURE, maxBatchSize: 4096 }));
    // Outputs the signature leaves open: only the worker can fit them.
    await registry.putVersion(
      version('wide', {
        ...SIMPLE_SIGNATURE,
        outputs: [{ name: 'EMBEDDING', datatype: 'FP64', shape: [-1, -1] }],
      }),
    );
    await registry.putVersion(
      version('labelled', {
        ...SIMPLE_SIGNATURE,
        outputs: [{ name: 'LABEL', datatype: 'BYTES', shape: [-1, 1] }],
      }),
    );
    const sagemaker = {
      send: async (command: InvokeEndpointCommand) => {
        const { EndpointName } = command.input;
        const inputs = invocationInputs(command);
        const outputs = answers[EndpointName!]!(inputs, ++calls);
        return {
          Body: new TextEncoder().encode(JSON.stringify({ outputs })),
          ContentType: 'application/json',
        };
      },
    } as unknown as SageMakerRuntimeClient;
    store = new BatchApiStore(dynamodb, 'batch');
    deps = {
      store,
      models: new ModelCache(registry, { ttlMs: 0 }),
      inference: { sagemaker, circuits: alwaysClosed, timeoutMs: 10_000 },
      // These tests have no outage: a deferral would be a defect.
      outage: {
        budgetSeconds: 900,
        defer: async () => {
          throw new Error('no chunk should be deferred here');
        },
      },
    };
  });

  afterAll(async () => {
    await dynamo?.close();
  });

  /** Item i has INPUT0 of `value(i)` (i by default) and INPUT1 of zeros. */
  function submission(
    model: string,
    count: number,
    id: (i: number) => string = (i) => `item-${i}`,
    value: (i: number) => number = (i) => i,
  ) {
    return {
      model,
      items: Array.from({ length: count }, (_, i) => ({
        id: id(i),
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
    } satisfies SubmitBatchJob;
  }

  async function submit(jobId: string, body: SubmitBatchJob) {
    const { job } = await submitJob(store, deps.models, {
      owner: 'alice',
      jobId,
      submission: body,
      chunkItems: CHUNK_ITEMS,
    });
    return job;
  }

  async function runAll(jobId: string, chunks: number, workerDeps = deps) {
    for (let chunk = 0; chunk < chunks; chunk++) await processChunk(workerDeps, { jobId, chunk }, delivery);
  }

  async function resultItems(jobId: string): Promise<string[]> {
    const { Items = [] } = await dynamodb.send(
      new QueryCommand({
        TableName: 'batch',
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :result)',
        ExpressionAttributeValues: { ':pk': { S: `JOB#${jobId}` }, ':result': { S: 'RESULT#' } },
        ConsistentRead: true,
      }),
    );
    return Items.map((item) => item.sk!.S!);
  }

  it('succeeds for 3,000 tiny items with 1,000-character ids', async () => {
    // Prepare: inputs of zeros, so each item's outputs (at the longest INT32s) outweigh its inputs.
    const body = submission(
      'big-batch',
      3000,
      (i) => `${i}-`.padEnd(1000, 'x'),
      () => 0,
    );
    const job = await submit('long-ids', body);

    // Act
    await runAll('long-ids', job.chunks);

    // Assess
    expect(await store.getJob('long-ids')).toMatchObject({ status: 'SUCCEEDED', succeeded: 3000, failed: 0 });
    const results = await allResults(store, 'long-ids', 1000);
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(results.every((r, i) => 'outputs' in r && r.id === body.items[i]!.id)).toBe(true);
  });

  it('stores outputs larger than one result item in parts and lists them in item order', async () => {
    // Prepare: 8 items of about 120 KB of outputs each make one chunk.
    const job = await submit('wide', submission('wide', 20));
    expect(job.chunks).toBe(3);

    // Act
    await runAll('wide', job.chunks);

    // Assess
    expect(await store.getJob('wide')).toMatchObject({ status: 'SUCCEEDED', succeeded: 20, failed: 0 });
    expect((await resultItems('wide')).length).toBeGreaterThan(3);
    for (const limit of [3, 7, 1000]) {
      const results = await allResults(store, 'wide', limit);
      expect(results.map((r) => r.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(results.every((r) => 'outputs' in r && r.id === `item-${r.index}`)).toBe(true);
    }
    expect((await store.getResult('wide', 0))?.results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);

    // A page also stops at a byte budget (the API's answer must stay within Lambda's 6 MiB), never
    // below one result, and the next page starts where it stopped.
    const budget = 300 * 1024;
    const pages: ItemResult[][] = [];
    const byBytes = await allResults(store, 'wide', 1000, budget, pages);
    expect(byBytes.map((r) => r.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(pages.length).toBeGreaterThan(5);
    const escaped = (r: ItemResult) => Buffer.byteLength(JSON.stringify(JSON.stringify(r)));
    for (const page of pages) {
      expect(page.length).toBeGreaterThan(0);
      if (page.length > 1) expect(page.reduce((sum, r) => sum + escaped(r), 0)).toBeLessThanOrEqual(budget);
    }
    expect(RESULTS_PAGE_BYTES).toBeLessThan(6 * 1024 * 1024);
  });

  it('counts a result in parts once, without inference, when redelivered after a crash before counting', async () => {
    // Prepare: the worker dies after storing every part, before counting the chunk.
    await submit('parts-crash', submission('wide', 8));
    const crashing: WorkerDependencies = {
      ...deps,
      store: Object.assign(Object.create(store) as BatchApiStore, {
        countChunk: () => Promise.reject(new Error('worker killed')),
      }),
    };
    await expect(processChunk(crashing, { jobId: 'parts-crash', chunk: 0 }, delivery)).rejects.toThrow(
      'worker killed',
    );
    const stored = await store.getResult('parts-crash', 0);
    const callsBefore = calls;

    // Act
    await processChunk(deps, { jobId: 'parts-crash', chunk: 0 }, delivery);
    await processChunk(deps, { jobId: 'parts-crash', chunk: 0 }, delivery);

    // Assess
    expect(calls).toBe(callsBefore);
    expect(await store.getJob('parts-crash')).toMatchObject({ status: 'SUCCEEDED', succeeded: 8, failed: 0 });
    expect(await allResults(store, 'parts-crash', 5)).toEqual(stored?.results);
  });

  it('reads only the parts of the attempt that stored the result after a worker died between its parts', async () => {
    // Prepare: the first worker stores its other parts and dies before the first one.
    await submit('parts-torn', submission('wide', 8));
    const dying = {
      send: (command: unknown) =>
        command instanceof PutItemCommand && command.input.Item?.sk?.S === 'RESULT#000000'
          ? Promise.reject(new Error('worker killed'))
          : dynamodb.send(command as never),
    } as unknown as DynamoDBClient;
    const torn = { ...deps, store: new BatchApiStore(dying, 'batch') };
    await expect(processChunk(torn, { jobId: 'parts-torn', chunk: 0 }, delivery)).rejects.toThrow(
      'worker killed',
    );
    expect(await store.getResult('parts-torn', 0)).toBeUndefined();
    expect(await store.listResults('parts-torn', 100)).toEqual({ items: [] });

    // Act
    const result = await processChunk(deps, { jobId: 'parts-torn', chunk: 0 }, delivery);

    // Assess: the redelivery's outputs (another call, so other values) and no part of the first.
    expect(await store.getJob('parts-torn')).toMatchObject({ status: 'SUCCEEDED', succeeded: 8 });
    const listed = await allResults(store, 'parts-torn', 3);
    expect(listed).toEqual(result?.results);
    expect(listed.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(await store.getResult('parts-torn', 0)).toEqual(result);
  });

  it('fails alone an item whose own outputs are more than a result item holds', async () => {
    // Act
    const job = await submit('one-too-big', submission('labelled', 5));
    await runAll('one-too-big', job.chunks);

    // Assess
    expect(await store.getJob('one-too-big')).toMatchObject({
      status: 'COMPLETED_WITH_ERRORS',
      succeeded: 4,
      failed: 1,
    });
    const results = await allResults(store, 'one-too-big', 100);
    expect(results[2]).toEqual({
      index: 2,
      id: 'item-2',
      error: expect.stringMatching(/^the item's outputs take \d+ bytes as JSON, more than the 380000/),
    });
    expect(results.filter((r) => 'outputs' in r).map((r) => r.index)).toEqual([0, 1, 3, 4]);
  });
});
