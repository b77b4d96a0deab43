import { setTimeout } from 'node:timers/promises';
import { type DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ItemResult, SubmitBatchJob } from '../../functions/batch/api-schemas';
import { BatchApiStore, type NewJob } from '../../functions/batch/batch-store';
import { failChunk, failSubmission } from '../../functions/batch/dead-letters';
import { enqueueWork, releaseWork } from '../../functions/batch/fan-out';
import { fingerprintOf } from '../../functions/batch/fingerprint';
import { type RetryDependencies, retryJob } from '../../functions/batch/retry';
import { checkJob, type StallWatchDependencies, startWatch } from '../../functions/batch/stall-watch';
import { jobIdFor, submitForFanOut, submitJob } from '../../functions/batch/submission';
import { processChunk, type WorkerDependencies } from '../../functions/batch/worker';
import { BadRequestError, ConflictError, NotFoundError } from '../../functions/edge/errors';
import type { Principal } from '../../functions/edge/principal';
import { ModelCache } from '../../functions/registry/model-cache';
import { ModelRegistry } from '../../functions/registry/registry';
import {
  createBatchTable,
  createRegistryTable,
  type LocalDynamoDb,
  startDynamoDb,
} from '../../local/aws/dynamodb';
import { FAULTS_PATH, type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository } from '../../triton-image/model-repository';
import { allResults, alwaysClosed, liveCheck } from '../helpers/batch-jobs';
import { invocationInputs } from '../helpers/invocation';
import { LOCAL_CREDENTIALS, localDynamoDb, localSageMaker } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE, SIMPLE_VERSION } from '../helpers/simple-model';

const credentials = LOCAL_CREDENTIALS;
const region = 'us-east-1';
const MAX_RECEIVE_COUNT = 3;
const OUTAGE_BUDGET_SECONDS = 900;
/**
 * These tests are about accounting, not pacing (batch-fair.test.ts): an owner's window wide enough
 * that every job here has all its work sent at fan-out.
 */
const WINDOW = 1000;
const simple = SIMPLE_VERSION;
/** Chunks of one of `simple`'s batches, so that a job of a few items has several chunks. */
const CHUNK_ITEMS = simple.maxBatchSize;

/** Item i adds i to every element of INPUT0 and 1 to INPUT1: OUTPUT0 (the sum) is i + 1 everywhere. */
function submission(count: number): SubmitBatchJob {
  return {
    model: 'simple',
    items: Array.from({ length: count }, (_, i) => ({
      id: `item-${i}`,
      inputs: [
        { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
        { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
      ],
    })),
  };
}

describe('batch jobs on dynalite, fauxqs and the local model server', () => {
  let dynamo: LocalDynamoDb;
  let server: ModelServer;
  let fauxqs: FauxqsServer;
  let sqs: SQSClient;
  let dynamodb: DynamoDBClient;
  let store: BatchApiStore;
  let deps: WorkerDependencies;
  let workQueueUrl: string;
  let deadLetterQueue: string;
  let deadLetterQueueUrl: string;
  let queueCount = 0;

  const faults = (body: object | null) =>
    fetch(`${server.url}${FAULTS_PATH}`, {
      method: body ? 'POST' : 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    dynamodb = localDynamoDb(dynamo.url);
    await createRegistryTable(dynamodb, 'registry');
    await createBatchTable(dynamodb, 'batch');
    const registry = new ModelRegistry(dynamodb, 'registry');
    await registry.putVersion(simple);
    // Registered looser than the model is: items of the wrong width pass our checks and the model refuses them.
    await registry.putVersion({
      ...simple,
      name: 'loose',
      inputs: SIMPLE_SIGNATURE.inputs.map((input) => ({ ...input, shape: [-1, -1] })),
    });
    server = await startModelServer({
      models: await loadModelRepository('triton-image/model_repository'),
      endpoints: { triton: {} },
      faultInjection: true,
    });
    fauxqs = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    sqs = new SQSClient({ endpoint: fauxqs.address, region, credentials });
    store = new BatchApiStore(dynamodb, 'batch');
    deps = {
      store,
      models: new ModelCache(registry, { ttlMs: 0 }),
      inference: {
        sagemaker: localSageMaker(server.url),
        circuits: alwaysClosed,
        timeoutMs: 10_000,
      },
      outage: {
        budgetSeconds: OUTAGE_BUDGET_SECONDS,
        defer: async (work, delaySeconds) => {
          await sqs.send(
            new SendMessageCommand({
              QueueUrl: workQueueUrl,
              MessageBody: JSON.stringify(work),
              DelaySeconds: delaySeconds,
            }),
          );
        },
      },
      release: (jobId, attempt, counted) =>
        releaseWork({ store, sqs, workQueueUrl, window: WINDOW }, jobId, attempt, counted),
    };
  });

  afterAll(async () => {
    sqs?.destroy();
    await fauxqs?.stop();
    await server?.close();
    await dynamo?.close();
  });

  beforeEach(async () => {
    // A work queue per test, redriving to its own dead-letter queue, with a short visibility timeout
    // so a message that is not deleted comes back within the test.
    const name = `work-${++queueCount}`;
    deadLetterQueue = `${name}-dlq`;
    const dlq = fauxqs.createQueue(deadLetterQueue);
    deadLetterQueueUrl = dlq.queueUrl;
    workQueueUrl = fauxqs.createQueue(name, {
      attributes: {
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlq.queueArn,
          maxReceiveCount: MAX_RECEIVE_COUNT,
        }),
      },
    }).queueUrl;
    await faults(null);
  });

  async function submit(jobId: string, count: number) {
    const { job } = await submitJob(store, deps.models, {
      owner: 'alice',
      jobId,
      submission: submission(count),
      chunkItems: CHUNK_ITEMS,
    });
    await enqueueWork({ store, sqs, workQueueUrl, window: WINDOW }, jobId);
    return job;
  }

  async function receive(): Promise<Message[]> {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: workQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 2,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    return Messages;
  }

  /** One delivery to the worker, as the event source makes it; true when the message was acknowledged. */
  async function deliver(
    message: Message,
    options: { acknowledge?: boolean; worker?: WorkerDependencies } = {},
  ): Promise<boolean> {
    const work = JSON.parse(message.Body ?? '') as { jobId: string; chunk: number };
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? '1');
    try {
      await processChunk(options.worker ?? deps, work, { receiveCount });
    } catch {
      return false;
    }
    if (options.acknowledge === false) return false;
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: workQueueUrl, ReceiptHandle: message.ReceiptHandle! }),
    );
    return true;
  }

  /** No message left in the queue: none ready, none received and not yet deleted, none delayed. */
  async function queueEmpty(queueUrl = workQueueUrl): Promise<boolean> {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    return Object.values(Attributes).every((count) => count === '0');
  }

  /**
   * Delivers until the queue holds no message (failed ones reappear after the visibility timeout),
   * asking the queue rather than waiting out an empty poll.
   */
  async function drain(worker = deps) {
    for (let round = 0; round < 20; round++) {
      if (await queueEmpty()) return;
      for (const message of await receive()) await deliver(message, { worker });
    }
    throw new Error('the work queue did not drain');
  }

  const resultsOf = (jobId: string) => allResults(store, jobId, 7);

  /** A store on which a submission stops before creating its job until it is let through. */
  function paused() {
    let arrive = () => {};
    let release = () => {};
    const arrived = new Promise<void>((resolve) => {
      arrive = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const gated = Object.assign(Object.create(store) as BatchApiStore, {
      createJob: async (job: NewJob) => {
        arrive();
        await released;
        return store.createJob(job);
      },
    });
    return { gated, arrived, release };
  }

  /** How many chunk items a job's partition holds, whoever wrote them. */
  /** The job's chunk items: those of its own chunk set, and those of other submissions' sets. */
  async function chunkItems(jobId: string): Promise<{ own: number; others: number }> {
    const { chunkSet } = (await store.getJobRecord(jobId))!;
    const { Items = [] } = await dynamodb.send(
      new QueryCommand({
        TableName: 'batch',
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :chunk)',
        ExpressionAttributeValues: { ':pk': { S: `JOB#${jobId}` }, ':chunk': { S: 'CHUNK#' } },
        ConsistentRead: true,
      }),
    );
    const own = Items.filter((item) => item.sk?.S?.startsWith(`CHUNK#${chunkSet}#`)).length;
    return { own, others: Items.length - own };
  }

  /** Item i of either test body sums to i + 1 everywhere. */
  function expectSum(result: ItemResult | undefined, index: number) {
    expect(result).toMatchObject({ index });
    const sum = (result as { outputs?: { name: string; data: number[] }[] }).outputs?.find(
      (o) => o.name === 'OUTPUT0',
    );
    expect(sum?.data).toEqual(Array.from({ length: 16 }, () => index + 1));
  }

  function expectOutputs(result: ItemResult | undefined, index: number) {
    expect(result).toMatchObject({ index, id: `item-${index}` });
    expect(result && 'outputs' in result).toBe(true);
    const sum = (
      result as unknown as { outputs: { name: string; shape: number[]; data: number[] }[] }
    ).outputs.find((o) => o.name === 'OUTPUT0');
    expect(sum?.shape).toEqual([1, 16]);
    expect(sum?.data).toEqual(Array.from({ length: 16 }, () => index + 1));
  }

  it('refuses an item that does not fit the signature before storing anything', async () => {
    const bad = submission(3);
    bad.items[1] = { inputs: [{ name: 'INPUT0', shape: [1, 15], datatype: 'INT32', data: [] }] };
    await expect(
      submitJob(store, deps.models, {
        owner: 'alice',
        jobId: 'bad-job',
        submission: bad,
        chunkItems: CHUNK_ITEMS,
      }),
    ).rejects.toBeInstanceOf(BadRequestError);
    expect(await store.getJob('bad-job')).toBeUndefined();
  });

  it('queues an API submission for fan-out under the job its idempotency key names, until it runs', async () => {
    // Prepare
    const submissionsQueueUrl = fauxqs.createQueue(`submissions-${queueCount}`).queueUrl;
    const submissions = { store, models: deps.models, sqs, submissionsQueueUrl };
    const input = { owner: 'erin', idempotencyKey: 'key-1', submission: submission(2) };
    const queued = async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: submissionsQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      return Messages.map((m) => JSON.parse(m.Body ?? '') as unknown);
    };

    // Act: a retried request is queued again while the job waits; once it runs, it is not.
    const first = await submitForFanOut(submissions, input);
    const retried = await submitForFanOut(submissions, input);
    const whileQueued = await queued();
    await enqueueWork({ store, sqs, workQueueUrl, window: WINDOW }, first.jobId);
    const late = await submitForFanOut(submissions, input);

    // Assess
    expect(first).toMatchObject({ jobId: jobIdFor('erin', 'key-1'), status: 'QUEUED', total: 2 });
    expect(retried).toEqual(first);
    expect(whileQueued).toEqual([{ jobId: first.jobId }, { jobId: first.jobId }]);
    expect(late).toMatchObject({ jobId: first.jobId, status: 'RUNNING' });
    expect(await queued()).toEqual([]);
  });

  it('returns the stored job to a repeated submission with the same id and body, and refuses another body', async () => {
    // Prepare: the same body with its keys in another order is the same submission.
    const body = submission(2);
    const reordered = {
      items: body.items.map(({ inputs, id }) => ({
        inputs: inputs.map((input) => Object.fromEntries(Object.entries(input as object).reverse())),
        id,
      })),
      model: body.model,
    };

    // Act
    const first = await submitJob(store, deps.models, {
      owner: 'alice',
      jobId: 'same',
      submission: body,
      chunkItems: CHUNK_ITEMS,
    });
    const retried = await submitJob(store, deps.models, {
      owner: 'alice',
      jobId: 'same',
      submission: reordered,
      chunkItems: CHUNK_ITEMS,
    });
    const other = submitJob(store, deps.models, {
      owner: 'alice',
      jobId: 'same',
      submission: submission(5),
      chunkItems: CHUNK_ITEMS,
    });
    const otherVersion = submitJob(store, deps.models, {
      owner: 'alice',
      jobId: 'same',
      submission: { ...body, version: '1' },
      chunkItems: CHUNK_ITEMS,
    });

    // Assess
    expect(first.created).toBe(true);
    expect(retried).toEqual({ created: false, job: first.job });
    await expect(other).rejects.toMatchObject({
      statusCode: 422,
      message: expect.stringMatching(/different body/),
    });
    await expect(otherVersion).rejects.toMatchObject({ statusCode: 422 });
    expect(await store.getJob('same')).toEqual(first.job);
  });

  it('looks the job id and the model up at once, and returns an existing job to its retry whatever the registry says now', async () => {
    // Prepare: the job id's read answers only once the model's has been asked for, or after 2 s.
    let modelAsked: () => void = () => {};
    const asked = new Promise<void>((resolve) => {
      modelAsked = resolve;
    });
    let askedBeforeAnswer = false;
    const timed = Object.assign(Object.create(store) as BatchApiStore, {
      getJobRecord: async (...args: Parameters<BatchApiStore['getJobRecord']>) => {
        askedBeforeAnswer = await Promise.race([asked.then(() => true), setTimeout(2_000, false)]);
        return store.getJobRecord(...args);
      },
    });
    const models = {
      getModel: (name: string) => {
        modelAsked();
        return deps.models.getModel(name);
      },
    };
    const input = { owner: 'alice', jobId: 'looked-up', submission: submission(2), chunkItems: CHUNK_ITEMS };

    // Act
    const first = await submitJob(timed, models, input);
    const retried = await submitJob(store, { getModel: async () => undefined }, input);

    // Assess
    expect(askedBeforeAnswer).toBe(true);
    expect(first.created).toBe(true);
    expect(retried).toEqual({ created: false, job: first.job });
    await expect(
      submitJob(store, { getModel: async () => undefined }, { ...input, jobId: 'no-model' }),
    ).rejects.toMatchObject({ statusCode: 404 });
  });

  it('keeps one job with exactly the items of the submission that made it when ten submissions race for one key', async () => {
    // Prepare: five submissions of one body and five of another (other ids, other length), one key.
    const jobId = jobIdFor('ivan', 'raced-key');
    const ours = submission(20);
    const theirs: SubmitBatchJob = {
      model: 'simple',
      items: submission(13).items.map((item, i) => ({ ...item, id: `other-${i}` })),
    };
    const bodies = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? ours : theirs));

    // Act
    const outcomes = await Promise.allSettled(
      bodies.map((body) =>
        submitJob(store, deps.models, { owner: 'ivan', jobId, submission: body, chunkItems: CHUNK_ITEMS }),
      ),
    );
    await enqueueWork({ store, sqs, workQueueUrl, window: WINDOW }, jobId);
    await drain();

    // Assess: the job runs the items of one body; every submission of that body got the job, every
    // other one was refused with a 422.
    const job = await store.getJob(jobId);
    const winner = job?.total === ours.items.length ? ours : theirs;
    for (const [i, outcome] of outcomes.entries()) {
      if (bodies[i] === winner) {
        expect(outcome).toMatchObject({ status: 'fulfilled', value: { job: { jobId } } });
      } else {
        expect(outcome).toMatchObject({ status: 'rejected', reason: { statusCode: 422 } });
      }
    }
    expect(outcomes.filter((o) => o.status === 'fulfilled' && o.value.created)).toHaveLength(1);
    const total = winner.items.length;
    expect(job).toMatchObject({ status: 'SUCCEEDED', total, succeeded: total, failed: 0, cancelled: 0 });
    const results = await resultsOf(jobId);
    expect(results.map((r) => r.id)).toEqual(winner.items.map((item) => item.id));
    for (const [i, result] of results.entries()) expectSum(result, i);
    // The losers' chunks stay under chunk sets the job never reads, until it expires or is deleted.
    expect((await chunkItems(jobId)).own).toBe(job?.chunks);
  });

  it("runs the first body's items when a second body for the same id writes its chunks before the job exists", async () => {
    // Prepare: each submission stops before creating its job until it is let through.
    const first = paused();
    const second = paused();
    const theirs: SubmitBatchJob = {
      model: 'simple',
      items: submission(3).items.map((item, i) => ({ ...item, id: `other-${i}` })),
    };

    // Act: the first writes its chunks, the second writes its own for the same id, the first's job
    // is created first.
    const firstSubmits = submitJob(first.gated, deps.models, {
      owner: 'judy',
      jobId: 'same-owner-raced',
      submission: submission(10),
      chunkItems: CHUNK_ITEMS,
    });
    await first.arrived;
    const secondSubmits = submitJob(second.gated, deps.models, {
      owner: 'judy',
      jobId: 'same-owner-raced',
      submission: theirs,
      chunkItems: CHUNK_ITEMS,
    });
    await second.arrived;
    first.release();
    await firstSubmits;
    second.release();
    await expect(secondSubmits).rejects.toMatchObject({ statusCode: 422 });
    await enqueueWork({ store, sqs, workQueueUrl, window: WINDOW }, 'same-owner-raced');
    await drain();

    // Assess: none of the second body's items ran; its chunk stays under a chunk set the job does
    // not name, and goes with the job's data.
    expect(await store.getJob('same-owner-raced')).toMatchObject({ status: 'SUCCEEDED', succeeded: 10 });
    const results = await resultsOf('same-owner-raced');
    expect(results).toHaveLength(10);
    for (const [i, result] of results.entries()) expectOutputs(result, i);
    expect(await chunkItems('same-owner-raced')).toEqual({ own: 2, others: 1 });
    await store.deleteJobItems('same-owner-raced');
    const { Count } = await dynamodb.send(
      new QueryCommand({
        TableName: 'batch',
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: 'JOB#same-owner-raced' } },
        ConsistentRead: true,
      }),
    );
    expect(Count).toBe(0);
  });

  it("answers a submission that meets another owner's job with a conflict, never with that job", async () => {
    // Prepare: mallory's job under the id frank's idempotency key derives, however it got there.
    const submissionsQueueUrl = fauxqs.createQueue(`submissions-claimed-${queueCount}`).queueUrl;
    const jobId = jobIdFor('frank', 'claimed-key');
    await store.createJob({
      jobId,
      owner: 'mallory',
      fingerprint: fingerprintOf(submission(2)),
      chunkSet: 'mallory-chunks',
      model: 'simple',
      version: '1',
      total: 1,
      chunks: 1,
      createdAt: new Date().toISOString(),
    });

    // Act
    const keyed = submitForFanOut(
      { store, models: deps.models, sqs, submissionsQueueUrl },
      { owner: 'frank', idempotencyKey: 'claimed-key', submission: submission(2) },
    );
    const named = submitJob(store, deps.models, {
      owner: 'frank',
      jobId,
      submission: submission(2),
      chunkItems: CHUNK_ITEMS,
    });

    // Assess
    await expect(keyed).rejects.toBeInstanceOf(ConflictError);
    await expect(named).rejects.toThrow(/belongs to another owner/);
    expect(await store.getJob(jobId)).toMatchObject({ owner: 'mallory', total: 1 });
  });

  it("runs a job on its own owner's chunks when another owner's submission races for its id", async () => {
    // Prepare: each submission stops before creating its job until it is let through.
    const victim = paused();
    const rival = paused();
    const rivalItems = submission(3).items.map((item, i) => ({ ...item, id: `rival-${i}` }));

    // Act: the victim writes its chunks, the rival writes its own for the same id, the victim's job
    // is created first.
    const victimSubmits = submitJob(victim.gated, deps.models, {
      owner: 'victim',
      jobId: 'raced',
      submission: submission(3),
      chunkItems: CHUNK_ITEMS,
    });
    await victim.arrived;
    const rivalSubmits = submitJob(rival.gated, deps.models, {
      owner: 'rival',
      jobId: 'raced',
      submission: { model: 'simple', items: rivalItems },
      chunkItems: CHUNK_ITEMS,
    });
    await rival.arrived;
    victim.release();
    await victimSubmits;
    rival.release();
    await expect(rivalSubmits).rejects.toBeInstanceOf(ConflictError);
    await enqueueWork({ store, sqs, workQueueUrl, window: WINDOW }, 'raced');
    await drain();

    // Assess
    expect(await store.getJob('raced')).toMatchObject({ owner: 'victim', status: 'SUCCEEDED' });
    const results = await resultsOf('raced');
    expect(results).toHaveLength(3);
    for (const [i, result] of results.entries()) expectOutputs(result, i);
  });

  it('refuses an owner that is not well-formed Unicode, which UTF-8 would store as another owner', async () => {
    // Prepare: a lone surrogate, which UTF-8 encoding replaces with U+FFFD.
    const lone = 'grace\uD800';

    // Act and assess
    expect(() => jobIdFor(lone, 'key-1')).toThrow(BadRequestError);
    await expect(
      submitJob(store, deps.models, {
        owner: lone,
        jobId: 'lone-owner',
        submission: submission(1),
        chunkItems: CHUNK_ITEMS,
      }),
    ).rejects.toBeInstanceOf(BadRequestError);
    await expect(store.listJobs(lone, 10)).rejects.toBeInstanceOf(BadRequestError);
    expect(await store.getJob('lone-owner')).toBeUndefined();
    expect((await store.listJobs('grace\uFFFD', 10)).items).toEqual([]);
  });

  it("lists an owner's jobs newest first, a page at a time", async () => {
    // Prepare
    for (const [jobId, minute] of [
      ['old', 1],
      ['newest', 3],
      ['middle', 2],
    ] as const) {
      await submitJob(
        store,
        deps.models,
        { owner: 'carol', jobId, submission: submission(1), chunkItems: CHUNK_ITEMS },
        () => new Date(`2026-01-01T00:0${minute}:00.000Z`),
      );
    }

    // Act
    const first = await store.listJobs('carol', 2);
    const second = await store.listJobs('carol', 2, first.nextToken);

    // Assess
    expect(first.items.map((j) => j.jobId)).toEqual(['newest', 'middle']);
    expect(second.items.map((j) => j.jobId)).toEqual(['old']);
    expect(second.nextToken).toBeUndefined();
    await expect(store.listJobs('carol', 2, 'bm90LWEtdG9rZW4')).rejects.toBeInstanceOf(BadRequestError);
    // Another owner's real token resumes nothing of theirs: a 400, not DynamoDB's boundary error.
    await expect(store.listJobs('dave', 2, first.nextToken)).rejects.toBeInstanceOf(BadRequestError);
  });

  it("runs a small job of several of the model's batches as one chunk, a request per batch", async () => {
    // Prepare: 20 items of a model whose batches hold 8, with the chunk size a deployment has.
    const { job } = await submitJob(store, deps.models, {
      owner: 'alice',
      jobId: 'one-chunk',
      submission: submission(20),
    });
    expect(job).toMatchObject({ total: 20, chunks: 1 });
    await enqueueWork({ store, sqs, workQueueUrl, window: WINDOW }, 'one-chunk');
    const rows: number[] = [];
    const sagemaker = deps.inference.sagemaker;
    const counted: WorkerDependencies = {
      ...deps,
      inference: {
        ...deps.inference,
        sagemaker: Object.assign(Object.create(sagemaker) as typeof sagemaker, {
          send: async (...args: Parameters<typeof sagemaker.send>) => {
            rows.push(invocationInputs(args[0] as InvokeEndpointCommand)[0]!.shape[0]!);
            return sagemaker.send(...args);
          },
        }),
      },
    };

    // Act
    await drain(counted);

    // Assess
    expect(rows.sort((a, b) => a - b)).toEqual([4, 8, 8]);
    expect(await store.getJob('one-chunk')).toMatchObject({ status: 'SUCCEEDED', succeeded: 20, failed: 0 });
    const results = await resultsOf('one-chunk');
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    for (const [i, result] of results.entries()) expectOutputs(result, i);
  });

  it('counts every item once when every message is delivered twice', async () => {
    // Prepare: 20 items in chunks of max_batch_size 8; the fan-out runs twice, so every chunk is queued twice.
    const job = await submit('twice', 20);
    await enqueueWork({ store, sqs, workQueueUrl, window: WINDOW }, 'twice');
    expect(job).toMatchObject({ total: 20, chunks: 3 });

    // Act: each received message is also processed twice.
    for (let round = 0; round < 5; round++) {
      const messages = await receive();
      if (messages.length === 0) break;
      for (const message of messages) {
        await deliver(message, { acknowledge: false });
        await deliver(message);
      }
    }

    // Assess
    expect(await store.getJob('twice')).toMatchObject({
      status: 'SUCCEEDED',
      total: 20,
      succeeded: 20,
      failed: 0,
      cancelled: 0,
    });
    const results = await resultsOf('twice');
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    for (const [i, result] of results.entries()) expectOutputs(result, i);
  });

  it('counts a chunk once when its worker dies after inference and before acknowledgement', async () => {
    // Prepare
    await submit('killed', 10);
    const [first, second] = await receive();
    expect(first && second).toBeTruthy();

    // Act: one worker dies after writing the result but before counting it; another after counting
    // but before deleting the message. Both messages come back after the visibility timeout.
    const work = JSON.parse(first!.Body!) as { jobId: string; chunk: number };
    const crashing: WorkerDependencies = {
      ...deps,
      store: Object.assign(Object.create(store) as BatchApiStore, {
        countChunk: () => Promise.reject(new Error('worker killed')),
      }),
    };
    await expect(processChunk(crashing, work, { receiveCount: 1 })).rejects.toThrow('worker killed');
    expect(await store.getResult('killed', work.chunk)).toBeDefined();
    expect(await deliver(second!, { acknowledge: false })).toBe(false);
    const midway = await store.getJob('killed');
    expect(midway?.succeeded).toBeLessThan(10);
    await drain();

    // Assess
    expect(await store.getJob('killed')).toMatchObject({
      status: 'SUCCEEDED',
      succeeded: 10,
      failed: 0,
      cancelled: 0,
    });
    const results = await resultsOf('killed');
    expect(results).toHaveLength(10);
    for (const [i, result] of results.entries()) expectOutputs(result, i);
  });

  it('ends a job in the write that counts its last chunk, with no write of its own', async () => {
    // Prepare: a job of one chunk and one of three; the store counts the writes that only finish.
    await submit('one-write', 5);
    await submit('three-chunks', 20);
    let finishes = 0;
    const counting: WorkerDependencies = {
      ...deps,
      store: Object.assign(Object.create(store) as BatchApiStore, {
        finish: (...args: Parameters<BatchApiStore['finish']>) => {
          finishes++;
          return store.finish(...args);
        },
      }),
    };

    // Act
    await drain(counting);

    // Assess
    expect(finishes).toBe(0);
    expect(await store.getJob('one-write')).toMatchObject({ status: 'SUCCEEDED', succeeded: 5, chunks: 1 });
    expect(await store.getJob('three-chunks')).toMatchObject({
      status: 'SUCCEEDED',
      succeeded: 20,
      chunks: 3,
    });
    expect((await store.getJob('one-write'))?.completedAt).toBeDefined();
  });

  it("releases a job's next chunks from the job its count left, reading it no more", async () => {
    // Prepare: three chunks, the window's share sent; the store counts the job's reads.
    await submit('released', 20);
    const [message] = await receive();
    let reads = 0;
    const spied = Object.assign(Object.create(store) as BatchApiStore, {
      getJobRecord: (...args: Parameters<BatchApiStore['getJobRecord']>) => {
        reads++;
        return store.getJobRecord(...args);
      },
    });
    const counting: WorkerDependencies = {
      ...deps,
      store: spied,
      release: (jobId, attempt, counted) =>
        releaseWork({ store: spied, sqs, workQueueUrl, window: WINDOW }, jobId, attempt, counted),
    };

    // Act: a chunk that does not end the job, then the rest.
    await processChunk(counting, JSON.parse(message!.Body!), { receiveCount: 1 });
    const readsForOneChunk = reads;
    await drain();

    // Assess: the worker's one read of the job before the chunk; its release took the count's.
    expect(readsForOneChunk).toBe(1);
    expect(await store.getJob('released')).toMatchObject({ status: 'SUCCEEDED', succeeded: 20 });
  });

  it('counts and ends a job once when two deliveries of its last chunk count at once', async () => {
    // Prepare: both deliveries read the job before either counts, so both expect to end it.
    await submit('both-ending', 5);
    const [message] = await receive();
    const work = JSON.parse(message!.Body!) as { jobId: string; chunk: number };
    let reads = 0;
    let bothRead: () => void = () => {};
    const read = new Promise<void>((resolve) => {
      bothRead = resolve;
    });
    const racing: WorkerDependencies = {
      ...deps,
      store: Object.assign(Object.create(store) as BatchApiStore, {
        getJobRecord: async (...args: Parameters<BatchApiStore['getJobRecord']>) => {
          const job = await store.getJobRecord(...args);
          if (++reads === 2) bothRead();
          await read;
          return job;
        },
      }),
    };

    // Act
    await Promise.all([
      processChunk(racing, work, { receiveCount: 1 }),
      processChunk(racing, work, { receiveCount: 2 }),
    ]);

    // Assess
    expect(await store.getJob('both-ending')).toMatchObject({
      status: 'SUCCEEDED',
      total: 5,
      succeeded: 5,
      failed: 0,
      cancelled: 0,
    });
    expect(await resultsOf('both-ending')).toHaveLength(5);
  });

  /** Delivers every message as it becomes visible (deferred ones after their delay) until the job ends. */
  async function deliverUntilFinished(jobId: string, seen: Message[] = [], timeoutMs = 40_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const job = await store.getJob(jobId);
      if (job && !['QUEUED', 'RUNNING'].includes(job.status)) return job;
      for (const message of await receive()) {
        seen.push(message);
        await deliver(message);
      }
    }
    throw new Error(`job ${jobId} did not finish`);
  }

  it('defers chunks while the model fails, spending none of their deliveries, and runs them once it answers', async () => {
    // Prepare: more failures than the queue's deliveries of one message would survive.
    await submit('outage', 20);
    expect((await faults({ failNext: 3 * MAX_RECEIVE_COUNT, failStatus: 0 })).status).toBe(200);

    // Act
    const seen: Message[] = [];
    const job = await deliverUntilFinished('outage', seen);

    // Assess: every item ran once; each message was received once, the deferred ones say why.
    expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: 20, failed: 0 });
    const results = await resultsOf('outage');
    for (const [i, r] of results.entries()) expectOutputs(r, i);
    expect(seen.map((m) => m.Attributes?.ApproximateReceiveCount)).toEqual(seen.map(() => '1'));
    const deferred = seen.map((m) => JSON.parse(m.Body!)).filter((w) => w.deferrals !== undefined);
    expect(deferred.length).toBeGreaterThanOrEqual(MAX_RECEIVE_COUNT);
    expect(deferred.every((w) => typeof w.outageSince === 'number')).toBe(true);
    expect(fauxqs.inspectQueue(deadLetterQueue)?.messages.ready).toHaveLength(0);
  });

  it("fails a chunk's items with the outage as reason once the outage outlasts its budget", async () => {
    // Prepare: the endpoint is down; the chunk is deferred once.
    await submit('outage-long', 8);
    expect((await faults({ down: true })).status).toBe(200);
    const [first] = await receive();
    expect(await deliver(first!)).toBe(true);
    const [deferred] = await receive();
    const work = JSON.parse(deferred!.Body!) as { jobId: string; chunk: number; outageSince: number };
    expect(work).toMatchObject({ jobId: 'outage-long', chunk: 0, deferrals: 1 });
    expect(await store.getJob('outage-long')).toMatchObject({ status: 'RUNNING', failed: 0 });

    // Act: the next try comes after the budget.
    const later: WorkerDependencies = { ...deps, now: () => work.outageSince + OUTAGE_BUDGET_SECONDS * 1000 };
    await processChunk(later, work, { receiveCount: 1 });

    // Assess
    expect(await store.getJob('outage-long')).toMatchObject({ status: 'FAILED', failed: 8 });
    const results = await resultsOf('outage-long');
    expect(results).toHaveLength(8);
    for (const r of results) {
      expect((r as { error: string }).error).toMatch(
        /^model unavailable for 900 s, longer than the batch outage budget of 900 s; last error: endpoint triton/,
      );
    }
  });

  it('cancels a chunk that waits out an outage when its job is cancelled meanwhile', async () => {
    // Prepare: the one chunk started, met the outage and was deferred.
    await submit('outage-cancel', 8);
    expect((await faults({ down: true })).status).toBe(200);
    const [first] = await receive();
    expect(await deliver(first!)).toBe(true);

    // Act: the cancel is accepted while it waits; the model is back by its next try.
    expect(await store.requestCancel('outage-cancel')).toBe(true);
    await faults(null);
    const job = await deliverUntilFinished('outage-cancel');

    // Assess
    expect(job).toMatchObject({ status: 'CANCELLED', succeeded: 0, cancelled: 8 });
    expect((await resultsOf('outage-cancel')).every((r) => 'cancelled' in r)).toBe(true);
  });

  it('counts a deferred chunk once when its original message is delivered again as well', async () => {
    // Prepare: the worker defers the chunk, then dies before acknowledging the original.
    await submit('outage-twice', 8);
    expect((await faults({ down: true })).status).toBe(200);
    const [first] = await receive();
    expect(await deliver(first!, { acknowledge: false })).toBe(false);
    await faults(null);

    // Act: both the original (after its visibility timeout) and the deferred message run.
    const seen: Message[] = [];
    const job = await deliverUntilFinished('outage-twice', seen);
    for (const message of await receive()) {
      seen.push(message);
      await deliver(message);
    }

    // Assess
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(await store.getJob('outage-twice')).toEqual(job);
    expect(job).toMatchObject({ status: 'SUCCEEDED', succeeded: 8, failed: 0 });
    const results = await resultsOf('outage-twice');
    for (const [i, r] of results.entries()) expectOutputs(r, i);
  });

  describe('stalled jobs', () => {
    let watching: StallWatchDependencies;
    let watchQueueUrl: string;

    beforeEach(() => {
      watchQueueUrl = fauxqs.createQueue(`watch-${queueCount}`).queueUrl;
      watching = { store, sqs, submissionsQueueUrl: watchQueueUrl, stallTimeoutSeconds: 2 };
    });

    /** Runs each stall check as the fan-out does, until none is queued again; the checks run. */
    async function runChecks(): Promise<unknown[]> {
      const checks: unknown[] = [];
      for (let round = 0; round < 20; round++) {
        if (await queueEmpty(watchQueueUrl)) return checks;
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: watchQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 3 }),
        );
        for (const message of Messages) {
          const check = JSON.parse(message.Body!);
          checks.push(check);
          await checkJob(watching, check, message.MessageId!);
          await sqs.send(
            new DeleteMessageCommand({ QueueUrl: watchQueueUrl, ReceiptHandle: message.ReceiptHandle! }),
          );
        }
      }
      throw new Error('the checks did not end');
    }

    it('ends a job whose work went missing, failing its unrecorded items with the reason', async () => {
      // Prepare: one chunk of three runs; the other two work messages are lost.
      const job = await submit('stalled', 20);
      await startWatch(watching, (await store.getJobRecord('stalled'))!, 'fan-out');
      const messages = await receive();
      expect(messages).toHaveLength(3);
      await deliver(messages[0]!);
      for (const lost of messages.slice(1)) {
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: workQueueUrl, ReceiptHandle: lost.ReceiptHandle! }),
        );
      }

      // Act
      const checks = await runChecks();

      // Assess: the job ended; the chunk that ran keeps its outputs; the chain of checks stopped.
      expect(checks.length).toBeGreaterThanOrEqual(2);
      const ended = await store.getJob('stalled');
      expect(ended).toMatchObject({
        status: 'COMPLETED_WITH_ERRORS',
        total: job.total,
        succeeded: 8,
        failed: 12,
      });
      const results = await resultsOf('stalled');
      expect(results.map((r) => r.index)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      for (const r of results.slice(0, 8)) expectOutputs(r, r.index);
      for (const r of results.slice(8)) {
        expect((r as { error: string }).error).toMatch(
          /^the job made no progress for \d+ s, longer than the batch stall timeout of 2 s$/,
        );
      }
    });

    it('ends the job when its stall check is dead-lettered, so no job is left unwatched', async () => {
      // Prepare: a job whose work was lost; its check failed every delivery.
      await submit('unwatched', 8);
      await startWatch(watching, (await store.getJobRecord('unwatched'))!, 'fan-out');
      const [lost] = await receive();
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: workQueueUrl, ReceiptHandle: lost!.ReceiptHandle! }),
      );
      const { Messages: [check] = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: watchQueueUrl, WaitTimeSeconds: 3 }),
      );

      // Act
      await failSubmission(store, { messageId: check!.MessageId!, body: check!.Body! }, 'dead-lettered');

      // Assess
      expect(await store.getJob('unwatched')).toMatchObject({ status: 'FAILED', failed: 8 });
    });

    /** Stall-watch dependencies whose checks are recorded, not sent: the test delivers them. */
    function recorded(now: () => number): { watching: StallWatchDependencies; sent: string[] } {
      const sent: string[] = [];
      const recording = {
        send: async (command: SendMessageCommand) => {
          sent.push(command.input.MessageBody!);
          return {};
        },
      } as unknown as StallWatchDependencies['sqs'];
      return { watching: { ...watching, sqs: recording, now }, sent };
    }

    it("keeps one chain of checks whatever copies of the platform's own check SQS delivers", async () => {
      // Prepare: a job still for less than the stall timeout, checked from its first check on.
      await submit('duplicated', 8);
      const since = Date.now();
      let clock = since;
      const { watching: recording, sent } = recorded(() => clock);
      await startWatch(recording, (await store.getJobRecord('duplicated'))!, 'fan-out');
      clock = since + 1_000;
      const first = sent.splice(0);
      expect(first).toHaveLength(1);

      // Act: the check is delivered twice under its one message id (at-least-once delivery)...
      await checkJob(recording, JSON.parse(first[0]!), 'check-1');
      await checkJob(recording, JSON.parse(first[0]!), 'check-1');
      const second = sent.splice(0);
      // ...and each of the two checks that makes is delivered once, under a message id of its own.
      for (const [i, body] of second.entries()) await checkJob(recording, JSON.parse(body), `check-2-${i}`);
      const third = sent.splice(0);

      // Assess: the second copy sent the check its first copy had sent (a copy that died after the
      // write would have sent none); of those two, one passed the chain on.
      expect(second).toHaveLength(2);
      expect(second[1]).toBe(second[0]);
      expect(third).toHaveLength(1);
      const job = (await store.getJobRecord('duplicated'))!;
      expect(JSON.parse(third[0]!)).toEqual({ jobId: 'duplicated', watch: { token: job.watch!.token } });
      expect(job).toMatchObject({ status: 'RUNNING', failed: 0, watch: { since } });
    });

    it('starts the chain of a running job that has none from a check sent before checks carried a token, its clock from now', async () => {
      // Prepare: a job running since before its checks carried a token.
      await submit('upgraded', 8);
      const job = (await store.getJobRecord('upgraded'))!;
      const now = Date.now();
      const { watching: recording, sent } = recorded(() => now);

      // Act: the old check says it has been still since the epoch; a copy of it comes too.
      const old = { jobId: 'upgraded', watch: { updatedAt: job.updatedAt, since: 0 } };
      await checkJob(recording, old, 'old-check');
      await checkJob(recording, old, 'old-copy');

      // Assess: one chain, still from now; the job runs on.
      const watched = (await store.getJobRecord('upgraded'))!;
      expect(watched).toMatchObject({ status: 'RUNNING', failed: 0, watch: { since: now, by: 'old-check' } });
      expect(sent.map((body) => JSON.parse(body))).toEqual([
        { jobId: 'upgraded', watch: { token: watched.watch!.token } },
      ]);
    });

    it('changes nothing when a check that is not the live one is dead-lettered', async () => {
      // Prepare: a watched job, and checks a queue sender made up, which failed every delivery.
      await submit('dead-forgery', 8);
      const job = (await store.getJobRecord('dead-forgery'))!;
      await startWatch(watching, job, 'fan-out');
      const forged = [
        { jobId: 'dead-forgery', watch: { updatedAt: job.updatedAt, since: 0 } },
        { jobId: 'dead-forgery', watch: { token: 'a-guess' } },
      ];

      // Act
      for (const [i, body] of forged.entries()) {
        await failSubmission(
          store,
          { messageId: `forged-${i}`, body: JSON.stringify(body) },
          'dead-lettered',
        );
      }

      // Assess
      expect(await store.getJob('dead-forgery')).toMatchObject({ status: 'RUNNING', failed: 0 });
    });

    it('keeps watching a job while it makes progress and stops once it ends', async () => {
      // Prepare
      await submit('watched', 16);
      const since = Date.now();
      const first = await liveCheck(store, 'watched', { since });
      const [work, more] = await receive();

      // Act: a chunk is recorded between two checks, each short of the stall timeout.
      await deliver(work!);
      await checkJob({ ...watching, now: () => since + 1_900 }, first, 'first');
      const moved = (await store.getJobRecord('watched'))!;
      const [check] =
        (await sqs.send(new ReceiveMessageCommand({ QueueUrl: watchQueueUrl, WaitTimeSeconds: 3 })))
          .Messages ?? [];

      // Assess: the job is still running and watched from the progress on, under a new token.
      expect(JSON.parse(check!.Body!)).toEqual({ jobId: 'watched', watch: { token: moved.watch!.token } });
      expect(moved.watch).toMatchObject({ updatedAt: moved.updatedAt, since: since + 1_900, by: 'first' });
      expect(moved.status).toBe('RUNNING');
      await deliver(more!);
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: watchQueueUrl, ReceiptHandle: check!.ReceiptHandle! }),
      );
      await checkJob(watching, JSON.parse(check!.Body!), check!.MessageId!);
      expect(await store.getJob('watched')).toMatchObject({ status: 'SUCCEEDED', succeeded: 16 });
      expect(
        (await sqs.send(new ReceiveMessageCommand({ QueueUrl: watchQueueUrl, WaitTimeSeconds: 2 })))
          .Messages ?? [],
      ).toEqual([]);
    });
  });

  it('ends a job whose chunks were dead-lettered, every item with one result and the counters agreeing', async () => {
    // Prepare: 40 items in chunks of 8. Chunk 1's worker crashes on every delivery; chunk 2's last
    // delivery stores its result, then the counter write fails (a DynamoDB outage): both end in the
    // dead-letter queue, and the job stays RUNNING with no error.
    await submit('stranded', 40);
    const chunkOf = (m: Message) => (JSON.parse(m.Body!) as { chunk: number }).chunk;
    const outage: WorkerDependencies = {
      ...deps,
      store: Object.assign(Object.create(store) as BatchApiStore, {
        countChunk: () => Promise.reject(new Error('DynamoDB unavailable')),
      }),
    };
    for (let round = 0; round < 12; round++) {
      const messages = await receive();
      if (messages.length === 0) break;
      for (const message of messages) {
        if (chunkOf(message) === 2) {
          const receiveCount = Number(message.Attributes?.ApproximateReceiveCount);
          await processChunk(outage, JSON.parse(message.Body!), { receiveCount }).catch(() => undefined);
        } else if (chunkOf(message) !== 1) {
          await deliver(message);
        }
      }
    }
    expect(await store.getJob('stranded')).toMatchObject({ status: 'RUNNING', succeeded: 24, failed: 0 });
    const { Messages: deadLetters = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deadLetterQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
      }),
    );
    expect(deadLetters.map(chunkOf).sort()).toEqual([1, 2]);

    // Act: the dead-letter consumer records each, one of them twice (a redelivery from its queue).
    const reason = 'dead-lettered after 3 deliveries: no outcome recorded';
    for (const message of [...deadLetters, deadLetters[0]!]) {
      await failChunk(store, JSON.parse(message.Body!), reason);
    }

    // Assess: chunk 2's stored outputs stay; chunk 1's items fail with the reason.
    const job = await store.getJob('stranded');
    expect(job).toMatchObject({ status: 'COMPLETED_WITH_ERRORS', total: 40, succeeded: 32, failed: 8 });
    const results = await resultsOf('stranded');
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(results.filter((r) => 'outputs' in r)).toHaveLength(job!.succeeded);
    expect(results.filter((r) => 'error' in r)).toEqual(
      Array.from({ length: 8 }, (_, i) => ({ index: 8 + i, id: `item-${8 + i}`, error: reason })),
    );
  });

  it('fails a job whose submission was dead-lettered before it fanned out, and no job it did not create', async () => {
    // Prepare: a stored job whose fan-out never ran, and another owner's SQS submission naming it.
    const { job } = await submitJob(store, deps.models, {
      owner: 'alice',
      jobId: 'never-fanned-out',
      submission: submission(10),
      chunkItems: CHUNK_ITEMS,
    });
    const reason = 'the submission failed on every delivery';

    // Act
    await failSubmission(
      store,
      { messageId: 'm-1', body: JSON.stringify({ ...submission(10), owner: 'mallory', jobId: job.jobId }) },
      reason,
    );
    const untouched = await store.getJob(job.jobId);
    await failSubmission(store, { messageId: 'm-2', body: JSON.stringify({ jobId: job.jobId }) }, reason);

    // Assess
    expect(untouched).toMatchObject({ status: 'QUEUED', failed: 0 });
    expect(await store.getJob(job.jobId)).toMatchObject({ status: 'FAILED', total: 10, failed: 10 });
    const results = await resultsOf(job.jobId);
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(results.every((r) => 'error' in r && r.error === reason)).toBe(true);
  });

  it('cancels the chunks not yet started when a job is cancelled half way', async () => {
    // Prepare
    await submit('cancel', 24);
    const messages = await receive();
    expect(messages).toHaveLength(3);
    const chunkOf = (m: Message) => (JSON.parse(m.Body!) as { chunk: number }).chunk;
    const [done, ...rest] = messages.sort((a, b) => chunkOf(a) - chunkOf(b));

    // Act
    await deliver(done!);
    expect(await store.requestCancel('cancel')).toBe(true);
    for (const message of rest) await deliver(message);

    // Assess
    expect(await store.getJob('cancel')).toMatchObject({
      status: 'CANCELLED',
      succeeded: 8,
      failed: 0,
      cancelled: 16,
    });
    expect(await store.requestCancel('cancel')).toBe(false);
    const results = await resultsOf('cancel');
    for (const [i, r] of results.slice(0, 8).entries()) expectOutputs(r, i);
    expect(results.slice(8).every((r) => 'cancelled' in r)).toBe(true);
    expect(results).toHaveLength(24);
  });

  it('ends the chunks never sent as cancelled when their job is cancelled, without sending them', async () => {
    // Prepare: ten chunks of an owner with no other job, a window of three sent; the first runs,
    // then the cancel.
    const pacing = { store, sqs, workQueueUrl, window: 3 };
    const worker: WorkerDependencies = {
      ...deps,
      release: (jobId, attempt) => releaseWork(pacing, jobId, attempt),
    };
    await submitJob(store, deps.models, {
      owner: 'unsent-owner',
      jobId: 'cancel-unsent',
      submission: submission(80),
      chunkItems: CHUNK_ITEMS,
    });
    await enqueueWork(pacing, 'cancel-unsent');
    const chunkOf = (m: Message) => (JSON.parse(m.Body!) as { chunk: number }).chunk;
    const receiveAll = async (count: number) => {
      const messages: Message[] = [];
      while (messages.length < count) messages.push(...(await receive()));
      return messages.sort((a, b) => chunkOf(a) - chunkOf(b));
    };
    const [first, ...sent] = await receiveAll(3);
    expect(sent.map(chunkOf)).toEqual([1, 2]);
    expect(await deliver(first!, { worker })).toBe(true);
    const released = await receiveAll(1);
    expect(released.map(chunkOf)).toEqual([3]);
    const inFlight = [...sent, ...released];
    expect(await store.requestCancel('cancel-unsent')).toBe(true);

    // Act: the three chunks in flight end cancelled, and their releases end the six never sent.
    for (const message of inFlight) await deliver(message, { worker });

    // Assess: no work message was sent after the cancel, and every item has one result.
    expect(await queueEmpty()).toBe(true);
    expect(await store.getJob('cancel-unsent')).toMatchObject({
      status: 'CANCELLED',
      succeeded: 8,
      failed: 0,
      cancelled: 72,
    });
    // It left its owner's window, which the release that ended it gave up.
    expect(await store.pacedJobs('unsent-owner')).toEqual([]);
    const results = await resultsOf('cancel-unsent');
    for (const [i, r] of results.slice(0, 8).entries()) expectOutputs(r, i);
    expect(results.slice(8)).toEqual(
      Array.from({ length: 72 }, (_, i) => ({ index: 8 + i, id: `item-${8 + i}`, cancelled: true })),
    );
  });

  it('ends a job cancelled before its fan-out without work messages, and frees its share of the window', async () => {
    // Prepare: the cancel lands before the fan-out reads the job.
    const pacing = { store, sqs, workQueueUrl, window: 3 };
    await submitJob(store, deps.models, {
      owner: 'early-owner',
      jobId: 'cancel-early',
      submission: submission(24),
      chunkItems: CHUNK_ITEMS,
    });
    expect(await store.requestCancel('cancel-early')).toBe(true);

    // Act
    await enqueueWork(pacing, 'cancel-early');

    // Assess: no worker is left to release it, so the release that ended it took it out of the window.
    expect(await queueEmpty()).toBe(true);
    expect(await store.getJob('cancel-early')).toMatchObject({ status: 'CANCELLED', cancelled: 24 });
    expect(await store.pacedJobs('early-owner')).toEqual([]);
  });

  it('stops a chunk whose cancel is accepted after its worker read the job and before the chunk started', async () => {
    // Prepare: a one-chunk job; its cancel lands once the worker has read the job.
    await submit('cancel-raced', 5);
    const [message] = await receive();
    let accepted: boolean | undefined;
    const racing: WorkerDependencies = {
      ...deps,
      store: Object.assign(Object.create(store) as BatchApiStore, {
        getJobRecord: async (...args: Parameters<BatchApiStore['getJobRecord']>) => {
          const job = await store.getJobRecord(...args);
          accepted ??= await store.requestCancel('cancel-raced');
          return job;
        },
      }),
    };

    // Act
    const work = JSON.parse(message!.Body!) as { jobId: string; chunk: number };
    await processChunk(racing, work, { receiveCount: 1 });

    // Assess
    expect(accepted).toBe(true);
    expect(await store.getJob('cancel-raced')).toMatchObject({
      status: 'CANCELLED',
      succeeded: 0,
      cancelled: 5,
    });
    expect((await resultsOf('cancel-raced')).every((r) => 'cancelled' in r)).toBe(true);
  });

  it('marks a chunk started in the same round trip as it reads the chunk and its result', async () => {
    // Prepare: the chunk's read answers only once the start has been sent, or after 2 s.
    await submit('start-with-reads', 5);
    const [message] = await receive();
    let startSent: () => void = () => {};
    const sent = new Promise<void>((resolve) => {
      startSent = resolve;
    });
    let startBeforeRead = false;
    const timed: WorkerDependencies = {
      ...deps,
      store: Object.assign(Object.create(store) as BatchApiStore, {
        startChunk: (...args: Parameters<BatchApiStore['startChunk']>) => {
          startSent();
          return store.startChunk(...args);
        },
        getChunk: async (...args: Parameters<BatchApiStore['getChunk']>) => {
          startBeforeRead = await Promise.race([sent.then(() => true), setTimeout(2_000, false)]);
          return store.getChunk(...args);
        },
      }),
    };

    // Act
    await processChunk(timed, JSON.parse(message!.Body!), { receiveCount: 1 });

    // Assess
    expect(startBeforeRead).toBe(true);
    expect(await store.getJob('start-with-reads')).toMatchObject({ status: 'SUCCEEDED', succeeded: 5 });
  });

  it('marks no chunk started for work naming a chunk its job never planned, so a cancel still stops the job', async () => {
    // Prepare: a job of three chunks, none started, and work for a fourth.
    await submit('unplanned', 20);

    // Act
    const dropped = await processChunk(deps, { jobId: 'unplanned', chunk: 3 }, { receiveCount: 1 });

    // Assess
    expect(dropped).toBeUndefined();
    expect((await store.getJobRecord('unplanned'))?.started.size).toBe(0);
    expect(await store.requestCancel('unplanned')).toBe(true);
  });

  it('refuses a cancel once every chunk has started, as nothing is left to stop', async () => {
    // Prepare: a one-chunk job; its cancel is asked for while the worker records the chunk's result.
    await submit('cancel-late', 5);
    const [message] = await receive();
    let accepted: boolean | undefined;
    const racing: WorkerDependencies = {
      ...deps,
      store: Object.assign(Object.create(store) as BatchApiStore, {
        putResult: async (...args: Parameters<BatchApiStore['putResult']>) => {
          accepted = await store.requestCancel('cancel-late');
          return store.putResult(...args);
        },
      }),
    };

    // Act
    const work = JSON.parse(message!.Body!) as { jobId: string; chunk: number };
    await processChunk(racing, work, { receiveCount: 1 });

    // Assess
    expect(accepted).toBe(false);
    expect(await store.getJob('cancel-late')).toMatchObject({ status: 'SUCCEEDED', succeeded: 5 });
  });

  it('fails only the items the model refuses and completes the job with errors', async () => {
    // Prepare: item 2 is 8 wide, which the model refuses; the others are fine.
    const body = submission(4);
    const narrow = Array.from({ length: 8 }, () => 1);
    body.items[2] = {
      id: 'item-2',
      inputs: [
        { name: 'INPUT0', shape: [1, 8], datatype: 'INT32', data: narrow },
        { name: 'INPUT1', shape: [1, 8], datatype: 'INT32', data: narrow },
      ],
    };
    await submitJob(store, deps.models, {
      owner: 'alice',
      jobId: 'partial',
      submission: { ...body, model: 'loose' },
      chunkItems: CHUNK_ITEMS,
    });
    await enqueueWork({ store, sqs, workQueueUrl, window: WINDOW }, 'partial');

    // Act
    await drain();

    // Assess
    expect(await store.getJob('partial')).toMatchObject({
      status: 'COMPLETED_WITH_ERRORS',
      succeeded: 3,
      failed: 1,
      cancelled: 0,
    });
    const results = await resultsOf('partial');
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3]);
    expect(results[2]).toMatchObject({ index: 2, id: 'item-2', error: expect.stringMatching(/INPUT0/) });
    for (const i of [0, 1, 3]) expectOutputs(results[i], i);
  });

  it('never lowers progress however deliveries interleave', async () => {
    await submit('progress', 40);
    const seen: number[] = [];
    for (let round = 0; round < 5; round++) {
      const messages = await receive();
      if (messages.length === 0) break;
      await Promise.all(messages.flatMap((m) => [deliver(m, { acknowledge: false }), deliver(m)]));
      const job = await store.getJob('progress');
      seen.push((job?.succeeded ?? 0) + (job?.failed ?? 0));
    }
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(await store.getJob('progress')).toMatchObject({ status: 'SUCCEEDED', succeeded: 40 });
  });

  describe('retrying a finished job', () => {
    const alice: Principal = { sub: 'alice', scopes: ['batch:submit'], tier: 'standard' };
    let submissionsQueueUrl: string;
    let retries: RetryDependencies;

    beforeEach(() => {
      submissionsQueueUrl = fauxqs.createQueue(`retry-submissions-${queueCount}`).queueUrl;
      retries = { store, sqs, submissionsQueueUrl };
    });

    /** A job of `count` items that failed when the endpoint stayed down past a zero outage budget: FAILED. */
    async function failedJob(jobId: string, count: number) {
      await submit(jobId, count);
      await faults({ failNext: 1000, failStatus: 0 });
      await drain({ ...deps, outage: { ...deps.outage, budgetSeconds: 0 } });
      await faults(null);
      expect(await store.getJob(jobId)).toMatchObject({ status: 'FAILED', failed: count, succeeded: 0 });
    }

    /** Fans out every retry message on the submissions queue, as the fan-out function does. */
    async function fanOutRetries(): Promise<unknown[]> {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: submissionsQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      const bodies = Messages.map((m) => JSON.parse(m.Body ?? '') as { jobId: string; retry: number });
      for (const body of bodies)
        await enqueueWork({ store, sqs, workQueueUrl, window: WINDOW }, body.jobId, body.retry);
      return bodies;
    }

    async function expectAllSucceeded(jobId: string, count: number) {
      expect(await store.getJob(jobId)).toMatchObject({
        status: 'SUCCEEDED',
        succeeded: count,
        failed: 0,
        cancelled: 0,
      });
      const results = await resultsOf(jobId);
      expect(results.map((r) => r.index)).toEqual(Array.from({ length: count }, (_, i) => i));
      for (const r of results) expectOutputs(r, r.index);
    }

    it("runs a failed job's items again once the model answers, each with exactly one result", async () => {
      // Prepare
      await failedJob('retry-once', 20);
      expect((await store.getJob('retry-once'))!.attempt).toBe(0);

      // Act
      const started = await retryJob(retries, alice, 'retry-once');
      const queued = await fanOutRetries();
      await drain();

      // Assess
      expect(started).toMatchObject({ status: 'RUNNING', failed: 20, attempt: 1 });
      expect(queued).toEqual([{ jobId: 'retry-once', retry: 1 }]);
      await expectAllSucceeded('retry-once', 20);
    });

    it('counts a retried chunk once when its worker dies between its result and its count, and on redelivery', async () => {
      // Prepare
      await failedJob('retry-crash', 20);
      await retryJob(retries, alice, 'retry-crash');
      await fanOutRetries();
      const crashing = {
        ...deps,
        store: Object.assign(Object.create(store) as BatchApiStore, {
          countRetry: async () => {
            throw new Error('the table is unreachable');
          },
        }),
      };

      // Act: every chunk's retry result is stored and its worker dies before counting; then every
      // message is delivered twice more, the first time without acknowledgement.
      for (const message of await receive()) {
        const work = JSON.parse(message.Body ?? '') as { jobId: string; chunk: number; attempt: number };
        await expect(processChunk(crashing, work, { receiveCount: 1 })).rejects.toThrow('unreachable');
        expect(await deliver(message, { acknowledge: false })).toBe(false);
      }
      await drain();

      // Assess
      await expectAllSucceeded('retry-crash', 20);
    });

    it('starts one retry when two are requested at once', async () => {
      // Prepare
      await failedJob('retry-race', 10);

      // Act
      const answers = await Promise.all([
        retryJob(retries, alice, 'retry-race'),
        retryJob(retries, alice, 'retry-race'),
      ]);
      const queued = await fanOutRetries();
      await drain();

      // Assess: both see the one retry; its message, sent twice, runs each item once.
      expect(answers.map((job) => job.status)).toEqual(['RUNNING', 'RUNNING']);
      expect(queued).toEqual([
        { jobId: 'retry-race', retry: 1 },
        { jobId: 'retry-race', retry: 1 },
      ]);
      expect((await store.getJobRecord('retry-race'))?.attempt).toBe(1);
      await expectAllSucceeded('retry-race', 10);
    });

    it('ends a retry whose chunks are dead-lettered with their items still failed once each', async () => {
      // Prepare
      await failedJob('retry-dead', 20);
      await retryJob(retries, alice, 'retry-dead');
      await fanOutRetries();

      // Act: every retry chunk is dead-lettered, each twice (the consumer's own redelivery).
      for (const message of await receive()) {
        const work = JSON.parse(message.Body ?? '') as { jobId: string; chunk: number; attempt: number };
        await failChunk(store, work, 'dead-lettered after 3 deliveries');
        await failChunk(store, work, 'dead-lettered after 3 deliveries');
      }

      // Assess
      expect(await store.getJob('retry-dead')).toMatchObject({ status: 'FAILED', succeeded: 0, failed: 20 });
      expect(await resultsOf('retry-dead')).toHaveLength(20);
    });

    it("refuses to retry a job without failed items, and hides another owner's job", async () => {
      // Prepare
      await submit('retry-succeeded', 5);
      await drain();

      // Act / Assess
      await expect(retryJob(retries, alice, 'retry-succeeded')).rejects.toBeInstanceOf(ConflictError);
      await expect(retryJob(retries, { ...alice, sub: 'bob' }, 'retry-succeeded')).rejects.toBeInstanceOf(
        NotFoundError,
      );
      expect(await store.getJobRecord('retry-succeeded')).toMatchObject({ status: 'SUCCEEDED', attempt: 0 });
    });
  });
});
