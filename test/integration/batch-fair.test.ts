import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  type SendMessageBatchCommand,
  type SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SubmitBatchJob, WorkMessage } from '../../functions/batch/api-schemas';
import { BatchApiStore } from '../../functions/batch/batch-store';
import { failChunk } from '../../functions/batch/dead-letters';
import { enqueueWork, type FanOutDependencies, releaseWork, shareOf } from '../../functions/batch/fan-out';
import { checkJob } from '../../functions/batch/stall-watch';
import { submitJob } from '../../functions/batch/submission';
import { processChunk, type WorkerDependencies } from '../../functions/batch/worker';
import { ModelCache } from '../../functions/registry/model-cache';
import { ModelRegistry } from '../../functions/registry/registry';
import {
  createBatchTable,
  createRegistryTable,
  type LocalDynamoDb,
  startDynamoDb,
} from '../../local/aws/dynamodb';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository } from '../../triton-image/model-repository';
import { alwaysClosed, liveCheck } from '../helpers/batch-jobs';
import { LOCAL_CREDENTIALS, localDynamoDb, localSageMaker } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE, SIMPLE_VERSION } from '../helpers/simple-model';

const region = 'us-east-1';
/** The simple model batches 8 items: a job of 8n items has n chunks. */
const ITEMS_PER_CHUNK = SIMPLE_SIGNATURE.maxBatchSize;
const WINDOW = 3;
const simple = SIMPLE_VERSION;

function submission(count: number, model = 'simple'): SubmitBatchJob {
  return {
    model,
    items: Array.from({ length: count }, (_, i) => ({
      inputs: [
        { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
        { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
      ],
    })),
  };
}

describe('paced batch fan-out on dynalite, fauxqs and the local model server', () => {
  let dynamo: LocalDynamoDb;
  let server: ModelServer;
  let fauxqs: FauxqsServer;
  let sqs: SQSClient;
  let dynamodb: DynamoDBClient;
  let store: BatchApiStore;
  let models: ModelCache;
  let workQueueUrl: string;
  let queueCount = 0;
  /** Work messages sent, per job and chunk. */
  let sends: Map<string, number>;
  /** The SQS client the fan-out and releases send with, counting what they send. */
  let counting: Pick<SQSClient, 'send'>;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    dynamodb = localDynamoDb(dynamo.url);
    await createRegistryTable(dynamodb, 'registry');
    await createBatchTable(dynamodb, 'batch');
    const registry = new ModelRegistry(dynamodb, 'registry');
    await registry.putVersion(simple);
    models = new ModelCache(registry, { ttlMs: 0 });
    server = await startModelServer({
      models: await loadModelRepository('triton-image/model_repository'),
      endpoints: { triton: {} },
    });
    fauxqs = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    sqs = new SQSClient({ endpoint: fauxqs.address, region, credentials: LOCAL_CREDENTIALS });
    store = new BatchApiStore(dynamodb, 'batch');
    counting = {
      send: (async (command: SendMessageBatchCommand) => {
        const answer = await sqs.send(command);
        for (const entry of command.input.Entries ?? []) {
          const work = JSON.parse(entry.MessageBody!) as WorkMessage;
          const id = `${work.jobId}/${work.chunk}/${work.attempt ?? 0}`;
          sends.set(id, (sends.get(id) ?? 0) + 1);
        }
        return answer;
      }) as SQSClient['send'],
    };
  });

  afterAll(async () => {
    sqs?.destroy();
    await fauxqs?.stop();
    await server?.close();
    await dynamo?.close();
  });

  beforeEach(() => {
    workQueueUrl = fauxqs.createQueue(`fair-work-${++queueCount}`, {
      attributes: { VisibilityTimeout: '1' },
    }).queueUrl;
    sends = new Map();
    clockSkewMs = 0;
  });

  /** Added to the clock the releases read, to let a dead holder's lease run out. */
  let clockSkewMs = 0;
  const pacing = (): FanOutDependencies => ({
    store,
    sqs: counting,
    workQueueUrl,
    window: WINDOW,
    now: () => Date.now() + clockSkewMs,
  });

  function worker(overrides: Partial<WorkerDependencies> = {}): WorkerDependencies {
    return {
      store,
      models,
      inference: { sagemaker: localSageMaker(server.url), circuits: alwaysClosed, timeoutMs: 10_000 },
      outage: { budgetSeconds: 900, defer: async () => {} },
      release: (jobId, attempt, counted) => releaseWork(pacing(), jobId, attempt, counted),
      ...overrides,
    };
  }

  /** Each job its owner's only one unless a test says otherwise: an owner's jobs share its window. */
  async function submit(jobId: string, items: number, owner = `owner-of-${jobId}`) {
    await submitJob(store, models, {
      owner,
      jobId,
      submission: submission(items),
      chunkItems: ITEMS_PER_CHUNK,
    });
    await enqueueWork(pacing(), jobId);
  }

  async function receive(max = 10, waitSeconds = 1): Promise<Message[]> {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: workQueueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: waitSeconds,
      }),
    );
    return Messages;
  }

  /** Runs a message through the worker and acknowledges it; false when the worker threw. */
  async function deliver(message: Message, deps = worker()): Promise<boolean> {
    try {
      await processChunk(deps, JSON.parse(message.Body!) as WorkMessage, { receiveCount: 1 });
    } catch {
      return false;
    }
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: workQueueUrl, ReceiptHandle: message.ReceiptHandle! }),
    );
    return true;
  }

  /** Jobs' ids in the order they finish, with `pollers` workers taking one message at a time. */
  async function drain(jobIds: readonly string[], pollers: number, deps = worker()): Promise<string[]> {
    const finished: string[] = [];
    const running = async () => {
      const states = await Promise.all(jobIds.map((id) => store.getJob(id)));
      return states.some((job) => job?.status === 'RUNNING');
    };
    const poll = async () => {
      while (await running()) {
        for (const message of await receive(1)) {
          await deliver(message, deps);
          const { jobId } = JSON.parse(message.Body!) as WorkMessage;
          const job = await store.getJob(jobId);
          if (job?.status !== 'RUNNING' && !finished.includes(jobId)) finished.push(jobId);
        }
      }
    };
    await Promise.all(Array.from({ length: pollers }, poll));
    return finished;
  }

  const sentOf = (jobId: string) =>
    [...sends.entries()].filter(([id]) => id.startsWith(`${jobId}/`)).reduce((n, [, count]) => n + count, 0);

  it('queues only a window of a job at fan-out, and each counted chunk releases the next', async () => {
    // Prepare
    await submit('paced', 10 * ITEMS_PER_CHUNK);

    // Act
    const first = await receive();
    await deliver(first[0]!);
    const afterOne = await receive();

    // Assess
    expect(first.map((m) => JSON.parse(m.Body!).chunk).sort()).toEqual([0, 1, 2]);
    expect(afterOne.map((m) => JSON.parse(m.Body!).chunk)).toEqual([3]);
    expect(await store.getJobRecord('paced')).toMatchObject({ sent: 4, counted: 1 });
  });

  it('sends every chunk and counts every item once when four workers finish chunks concurrently', async () => {
    // Prepare
    await submit('concurrent', 12 * ITEMS_PER_CHUNK);

    // Act
    await drain(['concurrent'], 4);

    // Assess: every chunk sent once (racing releases leave the sending to the one holding the job),
    // and the job's counts exact.
    expect(await store.getJob('concurrent')).toMatchObject({
      status: 'SUCCEEDED',
      total: 12 * ITEMS_PER_CHUNK,
      succeeded: 12 * ITEMS_PER_CHUNK,
    });
    expect(await store.getJobRecord('concurrent')).toMatchObject({ sent: 12, counted: 12 });
    for (let chunk = 0; chunk < 12; chunk++) expect(sends.get(`concurrent/${chunk}/0`)).toBe(1);
  });

  it('releases each chunk once when every work message is delivered twice', async () => {
    // Prepare
    await submit('twice', 6 * ITEMS_PER_CHUNK);

    // Act: each message runs twice before it is acknowledged.
    for (let round = 0; round < 20; round++) {
      const messages = await receive();
      if (messages.length === 0) break;
      for (const message of messages) {
        await processChunk(worker(), JSON.parse(message.Body!), { receiveCount: 1 });
        await deliver(message);
      }
    }

    // Assess
    expect(await store.getJob('twice')).toMatchObject({
      status: 'SUCCEEDED',
      succeeded: 6 * ITEMS_PER_CHUNK,
    });
    expect(Object.fromEntries(sends)).toEqual(
      Object.fromEntries(Array.from({ length: 6 }, (_, chunk) => [`twice/${chunk}/0`, 1])),
    );
  });

  it('reads the job once for a release that sends: the write that records the send answers with it', async () => {
    // Prepare: a store that counts its reads of jobs.
    await submitJob(store, models, {
      owner: 'reader',
      jobId: 'read-once',
      submission: submission(10 * ITEMS_PER_CHUNK),
      chunkItems: ITEMS_PER_CHUNK,
    });
    let reads = 0;
    const reading = new Proxy(store, {
      get: (target, name, receiver) => {
        if (name === 'getJobRecord') reads++;
        return Reflect.get(target, name, receiver);
      },
    });

    // Act
    await enqueueWork({ ...pacing(), store: reading }, 'read-once');

    // Assess: the window went out, after one read of the job.
    expect(sentOf('read-once')).toBe(WINDOW);
    expect(reads).toBe(1);
  });

  it('sends the next chunk when a worker dies between sending it and recording it sent', async () => {
    // Prepare: the first release sends, then dies before its conditional write.
    await submit('crash-after-send', 5 * ITEMS_PER_CHUNK);
    let crashes = 1;
    const crashing = new Proxy(store, {
      get: (target, name, receiver) =>
        name === 'claimSent' && crashes-- > 0
          ? async () => {
              throw new Error('worker killed');
            }
          : Reflect.get(target, name, receiver),
    });
    const dying = worker({
      release: (jobId, attempt) => releaseWork({ ...pacing(), store: crashing }, jobId, attempt),
    });

    // Act: the crashed delivery is not acknowledged; SQS delivers it again. The dead holder's lease
    // on the job's sending runs out.
    const [message] = await receive(1);
    expect(await deliver(message!, dying)).toBe(false);
    clockSkewMs = 60_000;
    // One worker, so no two releases race to send the same chunk.
    await drain(['crash-after-send'], 1);

    // Assess: the chunk sent before the crash went twice, and counted once.
    expect(await store.getJob('crash-after-send')).toMatchObject({
      status: 'SUCCEEDED',
      succeeded: 5 * ITEMS_PER_CHUNK,
    });
    expect(sends.get('crash-after-send/3/0')).toBe(2);
    expect(sentOf('crash-after-send')).toBe(6);
  });

  it('sends the next chunk when the send itself fails, on the redelivery of the counted chunk', async () => {
    // Prepare
    await submit('send-fails', 4 * ITEMS_PER_CHUNK);
    let failures = 1;
    const failing: Pick<SQSClient, 'send'> = {
      send: ((command: SendMessageBatchCommand) => {
        if (failures-- > 0) return Promise.reject(new Error('SQS unavailable'));
        return counting.send(command);
      }) as SQSClient['send'],
    };
    const unlucky = worker({
      release: (jobId, attempt) => releaseWork({ ...pacing(), sqs: failing }, jobId, attempt),
    });

    // Act
    const [message] = await receive(1);
    expect(await deliver(message!, unlucky)).toBe(false);
    await drain(['send-fails'], 1);

    // Assess
    expect(await store.getJob('send-fails')).toMatchObject({
      status: 'SUCCEEDED',
      succeeded: 4 * ITEMS_PER_CHUNK,
    });
    expect(sentOf('send-fails')).toBe(4);
  });

  it('releases the chunks after a dead-lettered one at the next stall check', async () => {
    // Prepare: the first chunk is dead-lettered and recorded by the dead-letter consumer, which
    // sends nothing.
    await submit('dead-lettered', 5 * ITEMS_PER_CHUNK);
    const [message] = await receive(1);
    await failChunk(store, JSON.parse(message!.Body!), 'dead-lettered');
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: workQueueUrl, ReceiptHandle: message!.ReceiptHandle! }),
    );
    expect(await store.getJobRecord('dead-lettered')).toMatchObject({ sent: 3, counted: 1 });

    // Act
    await checkJob(
      {
        store,
        sqs,
        submissionsQueueUrl: fauxqs.createQueue(`fair-watch-${queueCount}`).queueUrl,
        stallTimeoutSeconds: 60,
        release: (jobId, retry) => releaseWork(pacing(), jobId, retry),
      },
      await liveCheck(store, 'dead-lettered'),
      'check',
    );
    await drain(['dead-lettered'], 2);

    // Assess
    expect(await store.getJob('dead-lettered')).toMatchObject({
      status: 'COMPLETED_WITH_ERRORS',
      succeeded: 4 * ITEMS_PER_CHUNK,
      failed: ITEMS_PER_CHUNK,
    });
  });

  it("does not end, as stalled, a job waiting for a share of its owner's window behind the owner's other jobs", async () => {
    // Prepare: four jobs of one owner, one more than the window, so one of them has no share; its
    // watch says it has not moved for twice the stall timeout.
    const jobs = ['queued-a', 'queued-b', 'queued-c', 'queued-d'];
    for (const jobId of jobs) await submit(jobId, 2 * ITEMS_PER_CHUNK, 'busy-owner');
    const paced = await store.pacedJobs('busy-owner');
    const waiting = paced.find((jobId) => shareOf(jobId, paced, WINDOW) === 0)!;
    const sending = paced.find((jobId) => shareOf(jobId, paced, WINDOW) > 0)!;
    // The checks' next messages, which go out delayed.
    const checks: { jobId: string }[] = [];
    const recording = {
      send: async (command: SendMessageCommand) => {
        checks.push(JSON.parse(command.input.MessageBody!));
        return {};
      },
    } as unknown as Pick<SQSClient, 'send'>;
    const watching = {
      store,
      sqs: recording,
      submissionsQueueUrl: 'checks',
      stallTimeoutSeconds: 60,
      window: WINDOW,
    };
    const stillSince = (jobId: string) => liveCheck(store, jobId, { since: Date.now() - 120_000 });

    // Act
    await checkJob(watching, await stillSince(waiting), 'check');
    await checkJob(watching, await stillSince(sending), 'check');

    // Assess: the waiting job is watched again from now; a job with a share that did not move ends
    expect(await store.getJob(waiting)).toMatchObject({ status: 'RUNNING' });
    expect(checks.map((c) => c.jobId)).toEqual([waiting]);
    expect((await store.getJobRecord(waiting))!.watch!.since).toBeGreaterThan(Date.now() - 10_000);
    expect(await store.getJob(sending)).toMatchObject({ status: 'FAILED' });
  });

  it("gives a waiting job the share a job gone from the table still held in its owner's window", async () => {
    // Prepare: four jobs of one owner, one more than the window; one with a share is then deleted
    // from the table without leaving the window, as a deletion under a worker's release once did.
    const jobs = ['gone-a', 'gone-b', 'gone-c', 'gone-d'];
    for (const jobId of jobs) await submit(jobId, 2 * ITEMS_PER_CHUNK, 'forgetful-owner');
    const paced = await store.pacedJobs('forgetful-owner');
    const waiting = paced.find((jobId) => shareOf(jobId, paced, WINDOW) === 0)!;
    const gone = paced.find((jobId) => shareOf(jobId, paced, WINDOW) > 0)!;
    await store.deleteJobItems(gone);
    const watching = {
      store,
      sqs: { send: async () => ({}) } as unknown as Pick<SQSClient, 'send'>,
      submissionsQueueUrl: 'checks',
      stallTimeoutSeconds: 60,
      window: WINDOW,
      release: (jobId: string, retry?: number) => releaseWork(pacing(), jobId, retry),
    };
    const job = await store.getJobRecord(waiting);
    expect(job!.sent).toBe(0);

    // Act
    await checkJob(watching, await liveCheck(store, waiting), 'check');

    // Assess: the gone job left the window, and the waiting job's work went out.
    expect(await store.pacedJobs('forgetful-owner')).not.toContain(gone);
    expect((await store.getJobRecord(waiting))!.sent).toBeGreaterThan(0);
  });

  it('cancels a paced job: the chunks not started by the cancel end cancelled and the job ends', async () => {
    // Prepare
    await submit('cancelled', 8 * ITEMS_PER_CHUNK);
    const [message] = await receive(1);
    await deliver(message!);

    // Act
    expect(await store.requestCancel('cancelled')).toBe(true);
    await drain(['cancelled'], 2);

    // Assess
    const job = await store.getJob('cancelled');
    expect(job).toMatchObject({ status: 'CANCELLED', total: 8 * ITEMS_PER_CHUNK });
    expect(job!.succeeded + job!.cancelled).toBe(8 * ITEMS_PER_CHUNK);
    expect(job!.cancelled).toBeGreaterThanOrEqual(4 * ITEMS_PER_CHUNK);
  });

  it("finishes another owner's one-chunk job within a window of a large job submitted before it", async () => {
    // Prepare
    await submit('large', 30 * ITEMS_PER_CHUNK, 'alice');
    await submit('small', ITEMS_PER_CHUNK, 'bob');
    const chunksDone = new Map<string, number>();
    const observing = worker({
      release: async (jobId, attempt) => {
        chunksDone.set(jobId, (chunksDone.get(jobId) ?? 0) + 1);
        if (jobId === 'small') chunksDone.set('large when small ended', chunksDone.get('large') ?? 0);
        await releaseWork(pacing(), jobId, attempt);
      },
    });

    // Act
    const order = await drain(['large', 'small'], 2, observing);

    // Assess: the small job waited for about the large job's window (one more chunk when a worker
    // free before it took the large job's released chunk), not for the large job.
    expect(order).toEqual(['small', 'large']);
    expect(chunksDone.get('large when small ended')).toBeLessThanOrEqual(WINDOW + 1);
  });

  it("shares one window between an owner's jobs: three large jobs do not hold back another owner's one", async () => {
    // Prepare: the owner's jobs split its window; the other owner's job has a window of its own.
    for (const job of ['many-1', 'many-2', 'many-3']) await submit(job, 10 * ITEMS_PER_CHUNK, 'many');
    await submit('single', 10 * ITEMS_PER_CHUNK, 'single');
    const inFlight = async (jobIds: readonly string[]) => {
      const jobs = await Promise.all(jobIds.map((id) => store.getJobRecord(id)));
      return jobs.reduce((n, job) => n + job!.sent - job!.counted, 0);
    };
    const many = ['many-1', 'many-2', 'many-3'];
    let mostInFlight = 0;
    const observing = worker({
      release: async (jobId, attempt) => {
        await releaseWork(pacing(), jobId, attempt);
        // Once the first job's fan-out window has drained, the owner's jobs hold one window between them.
        if ((await store.getJobRecord('many-1'))!.counted >= WINDOW)
          mostInFlight = Math.max(mostInFlight, await inFlight(many));
      },
    });

    // Act
    const order = await drain([...many, 'single'], 4, observing);

    // Assess: the single job ran on as many workers as the three together, so it ended first, with
    // every item of every job counted once and every chunk sent once.
    expect(order[0]).toBe('single');
    expect(mostInFlight).toBeLessThanOrEqual(WINDOW);
    for (const jobId of [...many, 'single']) {
      expect(await store.getJob(jobId)).toMatchObject({
        status: 'SUCCEEDED',
        succeeded: 10 * ITEMS_PER_CHUNK,
      });
      expect(sentOf(jobId)).toBe(10);
    }
    expect(await store.pacedJobs('many')).toEqual([]);
  });

  it('lets a chunk deferred for an outage leave the window until it is counted, once', async () => {
    // Prepare
    await submit('deferred', 6 * ITEMS_PER_CHUNK);

    // Act: chunk 1 waits out an outage; the window moves on by one.
    await store.markDeferred('deferred', 0, 1);
    await releaseWork(pacing(), 'deferred');
    const waiting = await store.getJobRecord('deferred');
    await store.countChunk('deferred', 1, { succeeded: ITEMS_PER_CHUNK, failed: 0, cancelled: 0 });
    const counted = await store.getJobRecord('deferred');

    // Assess: once counted, the chunk is not also counted as deferred.
    expect(waiting).toMatchObject({ counted: 1, sent: WINDOW + 1 });
    expect(counted).toMatchObject({ counted: 1, sent: WINDOW + 1 });
    expect(sends.get('deferred/3/0')).toBe(1);
  });

  it('paces a retry over the chunks that hold failed items', async () => {
    // Prepare: a job whose first run failed everywhere (the model is gone), then is back.
    await submit('retried', 7 * ITEMS_PER_CHUNK);
    const gone = worker({ models: { getModel: async () => undefined } });
    await drain(['retried'], 1, gone);
    expect(await store.getJob('retried')).toMatchObject({ status: 'FAILED' });
    expect(await store.startRetry('retried', 1, [0, 1, 2, 3, 4, 5, 6])).toBe(true);

    // Act
    await enqueueWork(pacing(), 'retried', 1);
    const queued = await receive();
    // Back on the queue at once, for the workers.
    await Promise.all(
      queued.map((m) =>
        sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: workQueueUrl,
            ReceiptHandle: m.ReceiptHandle!,
            VisibilityTimeout: 0,
          }),
        ),
      ),
    );
    await drain(['retried'], 2);

    // Assess
    expect(queued.filter((m) => JSON.parse(m.Body!).attempt === 1)).toHaveLength(WINDOW);
    expect(await store.getJob('retried')).toMatchObject({
      status: 'SUCCEEDED',
      succeeded: 7 * ITEMS_PER_CHUNK,
    });
    expect(await store.getJobRecord('retried')).toMatchObject({ sent: 7, counted: 7 });
  });
});
