/**
 * Exactly once at every point a container can die: each of a job's messages (its submission's
 * fan-out and scan, each chunk's work) is first delivered to a container that dies right after its
 * k-th AWS request took effect, for every k up to the most requests a delivery makes; SQS then
 * delivers it again, to a healthy container, which recovers from what the first left. Every job
 * must still end with each item's result exactly once and counters that agree, whatever k. The
 * other batch tests crash at chosen points; this one crashes at all of them, so a request added to
 * the path is covered without a test of its own.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchInputKey } from '../../contracts/batch-data';
import { countsOf, terminalStatus } from '../../functions/batch/accounting';
import {
  type BatchSubmission,
  type JobStatus,
  TERMINAL_STATUSES,
  type WorkMessage,
} from '../../functions/batch/api-schemas';
import { BatchApiStore, type JobRecord } from '../../functions/batch/batch-store';
import { failChunk, failSubmission } from '../../functions/batch/dead-letters';
import { fanOutJob, releaseWork } from '../../functions/batch/fan-out';
import { ownerDigest } from '../../functions/batch/input-files';
import { scanInputs } from '../../functions/batch/input-scan';
import { cancelJob } from '../../functions/batch/queries';
import { retryJob } from '../../functions/batch/retry';
import { checkJob } from '../../functions/batch/stall-watch';
import { submitJob } from '../../functions/batch/submission';
import { processChunk } from '../../functions/batch/worker';
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
import { FAULTS_PATH, type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository } from '../../triton-image/model-repository';
import { allResults, alwaysClosed, liveCheck, resultLines } from '../helpers/batch-jobs';
import { LOCAL_CREDENTIALS, localDynamoDb, localSageMaker } from '../helpers/local-clients';
import { SIMPLE_VERSION } from '../helpers/simple-model';

const region = 'us-east-1';
const Bucket = 'batch-data';
const OWNER = 'alice';
const OWNER_PRINCIPAL: Principal = { sub: OWNER, scopes: ['batch:submit', 'batch:read'], tier: 'standard' };
/** The simple model batches 8 items: 20 items make chunks of 8, 8 and 4. */
const ITEMS = 20;
/** Fewer chunks in flight than the job has, so that counted chunks release the rest. */
const WINDOW = 2;
/**
 * How long a release holds a job's sending: a container that dies holding it leaves it to run out.
 * Short here so that the redelivery does not wait out the deployed 5 s; a live holder that outlasts
 * it only lets a second release send the same chunks, which accounting counts once.
 */
const RELEASE_LEASE_MS = 200;

/** A submissions-queue message for a stored job: its first run, a retry, or its scan's next step. */
interface FanOutMessage {
  readonly jobId: string;
  readonly retry?: number;
  readonly scan?: boolean;
}

const DEAD_LETTER_REASON = 'dead-lettered: the worker ended without recording an outcome';
const DEAD_SUBMISSION_REASON = 'dead-lettered: the submission failed on every delivery';

/** What a container's request answers with once the container has died. */
class ContainerDied extends Error {}

/**
 * One container's view of the AWS clients. Its requests die together right after the
 * `diesAfter`-th (counted whether it succeeded or not) has taken effect: that request answers with
 * `ContainerDied`, and so does every later one, without reaching the service. Requests already in
 * flight still land, as they may when a process is killed. The clients are shared between
 * containers (each of its own would cost more than its requests); a streamed response body a dead
 * container never reads is destroyed, as the process's end would close its connection, or it would
 * hold a socket of the shared pool.
 */
class Container {
  requests = 0;
  dead = false;

  constructor(private readonly diesAfter = Number.POSITIVE_INFINITY) {}

  client<C extends object>(target: C & { send(...args: never[]): Promise<unknown> }): C {
    const send = async (...args: never[]) => {
      if (this.dead) throw new ContainerDied('the container died');
      let answer: unknown;
      try {
        answer = await target.send(...args);
        return answer;
      } finally {
        if (++this.requests >= this.diesAfter) this.dead = true;
        if (this.dead) {
          (answer as { Body?: { destroy?: () => void } } | undefined)?.Body?.destroy?.();
          // Thrown from `finally`, it replaces the request's answer or error.
          // biome-ignore lint/correctness/noUnsafeFinally: the container dies whatever the request answered
          throw new ContainerDied('the container died');
        }
      }
    };
    return new Proxy(target, { get: (t, key) => (key === 'send' ? send : Reflect.get(t, key)) });
  }
}

describe('batch jobs whose containers die after any one of their requests', () => {
  let dynamo: LocalDynamoDb;
  let dynamodb: DynamoDBClient;
  let s3: LocalS3;
  let server: ModelServer;
  let fauxqs: FauxqsServer;
  let sqs: SQSClient;
  let objects: S3Client;
  let endpoint: SageMakerRuntimeClient;
  let workQueueUrl: string;
  let submissionsQueueUrl: string;
  let deadLettersQueueUrl: string;
  let submissionDeadLettersQueueUrl: string;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    dynamodb = localDynamoDb(dynamo.url);
    await createRegistryTable(dynamodb, 'registry');
    await createBatchTable(dynamodb, 'batch');
    await new ModelRegistry(dynamodb, 'registry').putVersion(SIMPLE_VERSION);
    s3 = await startS3({ region });
    await s3.createBucket(Bucket);
    server = await startModelServer({
      models: await loadModelRepository('triton-image/model_repository'),
      endpoints: { triton: {} },
      faultInjection: true,
    });
    fauxqs = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    sqs = new SQSClient({ endpoint: fauxqs.address, region, credentials: LOCAL_CREDENTIALS });
    objects = new S3Client({
      endpoint: s3.url,
      region,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
    });
    endpoint = localSageMaker(server.url);
    // Nothing comes back by itself within a test: a died delivery is made visible again at once,
    // as its visibility timeout running out would.
    const attributes = { VisibilityTimeout: '600' };
    workQueueUrl = fauxqs.createQueue('crash-points-work', { attributes }).queueUrl;
    submissionsQueueUrl = fauxqs.createQueue('crash-points-submissions', { attributes }).queueUrl;
    deadLettersQueueUrl = fauxqs.createQueue('crash-points-dead-letters', { attributes }).queueUrl;
    submissionDeadLettersQueueUrl = fauxqs.createQueue('crash-points-submission-dead-letters', {
      attributes,
    }).queueUrl;
  });

  afterAll(async () => {
    sqs?.destroy();
    objects?.destroy();
    endpoint?.destroy();
    await fauxqs?.stop();
    await server?.close();
    await s3?.close();
    await dynamo?.close();
  });

  /** The functions' dependencies, as the handlers build them, on one container's clients. */
  function functionsOn(
    container: Container,
    {
      outageBudgetSeconds,
      stallTimeoutSeconds,
    }: { outageBudgetSeconds: number; stallTimeoutSeconds: number },
  ) {
    const tables = container.client(dynamodb);
    const store = new BatchApiStore(tables, 'batch');
    const models = new ModelCache(new ModelRegistry(tables, 'registry'), { ttlMs: 0 });
    const queues = container.client(sqs);
    const files = { s3: container.client(objects), bucket: Bucket };
    const sagemaker = container.client(endpoint);
    const pacing = {
      store,
      sqs: queues,
      workQueueUrl,
      window: WINDOW,
      resultFiles: files,
      releaseLeaseMs: RELEASE_LEASE_MS,
    };
    const release = (jobId: string, attempt?: number, counted?: JobRecord) =>
      releaseWork(pacing, jobId, attempt, counted);
    const send = async (queueUrl: string, body: object) => {
      await queues.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
    };
    return {
      /** The fan-out's handling of a stored job's message, as its handler does it (no stall watch: see `check`). */
      fanOut: async (body: FanOutMessage) => {
        const scan = {
          store,
          inputs: files,
          resultFiles: files,
          models,
          release,
          continueLater: (jobId: string) => send(submissionsQueueUrl, { jobId, scan: true }),
          remainingMs: () => Number.POSITIVE_INFINITY,
          // Short ranges and steps, so that one scan makes several reads and cursor moves.
          rangeBytes: 1500,
          chunksPerStep: 2,
          batchesPerChunk: 1,
          // One step per delivery: the scan goes on in the continuation it queues.
          sliceMs: 0,
        };
        if (body.scan) {
          await scanInputs(scan, body.jobId);
          return;
        }
        await fanOutJob(pacing, scan, body.jobId, body.retry);
      },
      /** The dead-letter function's handling of a dead-lettered work message. */
      deadLetter: (work: WorkMessage) => failChunk(store, work, DEAD_LETTER_REASON, files),
      /** The dead-letter function's handling of a dead-lettered submissions-queue message. */
      deadSubmission: (message: { messageId: string; body: string }) =>
        failSubmission(store, message, DEAD_SUBMISSION_REASON, files),
      /**
       * A check of the job's stall watch that finds it moving: it releases what no count did. The
       * next check it would queue is left to the harness, which runs one whenever nothing is queued.
       */
      check: async (jobId: string) => {
        const job = await store.getJobRecord(jobId);
        if (!job) return;
        const watching = {
          store,
          sqs: { send: async () => ({}) },
          submissionsQueueUrl,
          stallTimeoutSeconds,
          release,
          window: WINDOW,
          resultFiles: files,
        };
        // The job's live check, as if it had just seen the job move.
        await checkJob(watching, await liveCheck(store, jobId), 'check');
      },
      work: (work: WorkMessage) =>
        processChunk(
          {
            store,
            models,
            inference: {
              sagemaker,
              circuits: alwaysClosed,
              timeoutMs: 10_000,
            },
            outage: {
              budgetSeconds: outageBudgetSeconds,
              // Visible again at once: what is tested is the deferral's writes, not its wait.
              defer: (deferred) => send(workQueueUrl, deferred),
            },
            release,
            inputs: files,
            resultFiles: files,
          },
          work,
          { receiveCount: 1 },
        ),
    };
  }

  /** Item i: INPUT0 of i and INPUT1 of 1, so OUTPUT0 is i + 1 everywhere. */
  const item = (i: number) => ({
    id: `item-${i}`,
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => i) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
    ],
  });

  const JOBS = {
    /** Items in the body, results in DynamoDB: a small HTTPS job. */
    items: async (): Promise<BatchSubmission> => ({
      model: 'simple',
      items: Array.from({ length: ITEMS }, (_, i) => item(i)),
    }),
    /** An input file in S3, scanned by ranges; results to S3. */
    'an input file': async (): Promise<BatchSubmission> => {
      const inputId = crypto.randomUUID();
      const body = Array.from({ length: ITEMS }, (_, i) => JSON.stringify(item(i))).join('\n');
      await s3.client.send(
        new PutObjectCommand({ Bucket, Key: batchInputKey(ownerDigest(OWNER), inputId), Body: body }),
      );
      return { model: 'simple', inputs: [inputId] };
    },
  } as const;

  async function receive(queueUrl: string): Promise<Message[]> {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    return Messages;
  }

  async function queued(queueUrl: string): Promise<number> {
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
    return Object.values(Attributes).reduce((sum, count) => sum + Number(count), 0);
  }

  const modelFaults = (body: object | null) =>
    fetch(`${server.url}${FAULTS_PATH}`, {
      method: body ? 'POST' : 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });

  type Functions = ReturnType<typeof functionsOn>;

  /** The tests' own view of the table, outside any container. */
  const store = () => new BatchApiStore(dynamodb, 'batch');

  /**
   * Delivers the queues' messages until the job has ended and every queue is empty. Each message's
   * first delivery goes to a container that dies after `diesAfter` requests, later ones to healthy
   * containers; a died delivery is made visible again at once, as its visibility
   * timeout running out would. Work messages that `deadLetter` names go to the dead-letter queue on
   * their first receive, as if their receives had run out; with `deadLetterSubmissions`, so do
   * submissions-queue messages whose first delivery died. Work messages that `lose` names are deleted
   * unprocessed on their first receive. When nothing is queued and the job still
   * runs, its stall watch's next check runs (it releases what no count did). `afterFirstWork` runs
   * once, after the first delivery of a work message. Returns how many deliveries died, and how many
   * work messages were deferred ones (re-sent for a model outage).
   */
  async function runJob(
    jobId: string,
    diesAfter: number,
    options: {
      outageBudgetSeconds?: number;
      afterFirstWork?: () => Promise<unknown>;
      deadLetter?: (work: WorkMessage) => boolean;
      deadLetterSubmissions?: boolean;
      lose?: (work: WorkMessage) => boolean;
      stallTimeoutSeconds?: number;
      duplicates?: boolean;
    } = {},
  ) {
    const { deadLetter, deadLetterSubmissions, lose, duplicates } = options;
    const settings = {
      outageBudgetSeconds: options.outageBudgetSeconds ?? 900,
      stallTimeoutSeconds: options.stallTimeoutSeconds ?? 3600,
    };
    let afterFirstWork = options.afterFirstWork;
    const deliveries = new Map<string, number>();
    let died = 0;
    let deferred = 0;
    /** One delivery of what `key` names; true when its container died. */
    const deliver = async (
      key: string,
      run: (functions: Functions) => Promise<unknown>,
      after = diesAfter,
    ) => {
      const delivery = (deliveries.get(key) ?? 0) + 1;
      deliveries.set(key, delivery);
      const container = new Container(delivery === 1 ? after : undefined);
      // A healthy container's function must not fail: only a death may leave a message behind.
      await run(functionsOn(container, settings)).catch((error: unknown) => {
        if (!container.dead) throw error;
      });
      if (container.dead) died++;
      return container.dead;
    };
    const consumers: [
      string,
      (functions: Functions, body: WorkMessage & FanOutMessage, message: Message) => Promise<unknown>,
    ][] = [
      [submissionsQueueUrl, (functions, body) => functions.fanOut(body)],
      [workQueueUrl, (functions, body) => functions.work(body)],
      [deadLettersQueueUrl, (functions, body) => functions.deadLetter(body)],
      [
        submissionDeadLettersQueueUrl,
        (functions, _, { MessageId, Body }) =>
          functions.deadSubmission({ messageId: MessageId!, body: Body! }),
      ],
    ];
    let checks = 0;
    for (let round = 0; round < 500; round++) {
      for (const [queueUrl, consume] of consumers) {
        for (const message of await receive(queueUrl)) {
          const ReceiptHandle = message.ReceiptHandle;
          const body = JSON.parse(message.Body!) as WorkMessage & FanOutMessage;
          if (queueUrl === workQueueUrl && body.deferrals !== undefined) deferred++;
          const deadLettered = `dead-lettered ${message.Body}`;
          if (queueUrl === workQueueUrl && deadLetter?.(body) && !deliveries.has(deadLettered)) {
            deliveries.set(deadLettered, 1);
            await sqs.send(
              new SendMessageCommand({ QueueUrl: deadLettersQueueUrl, MessageBody: message.Body }),
            );
            await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle }));
            continue;
          }
          // Work that goes missing without a dead letter: deleted unprocessed on its first receive.
          const lost = `lost ${message.Body}`;
          if (queueUrl === workQueueUrl && lose?.(body) && !deliveries.has(lost)) {
            deliveries.set(lost, 1);
            await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle }));
            continue;
          }
          const run = (functions: Functions) => consume(functions, body, message);
          const [dead] = await Promise.all([
            deliver(`${queueUrl} ${message.Body}`, run),
            // SQS delivers at least once: the same message to a second consumer at the same time.
            duplicates && deliver(`duplicate ${message.Body} ${round}`, run, Number.POSITIVE_INFINITY),
          ]);
          if (queueUrl === workQueueUrl) {
            await afterFirstWork?.();
            afterFirstWork = undefined;
          }
          if (dead && queueUrl === submissionsQueueUrl && deadLetterSubmissions) {
            await sqs.send(
              new SendMessageCommand({ QueueUrl: submissionDeadLettersQueueUrl, MessageBody: message.Body }),
            );
            await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle }));
          } else if (dead) {
            await sqs.send(
              new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle, VisibilityTimeout: 0 }),
            );
          } else await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle }));
        }
      }
      const job = await store().getJob(jobId);
      let left = 0;
      for (const [queueUrl] of consumers) left += await queued(queueUrl);
      if (left > 0) continue;
      if (job && TERMINAL_STATUSES.includes(job.status)) return { died, deferred };
      checks++;
      while (await deliver(`check ${checks}`, (functions) => functions.check(jobId))) {}
    }
    throw new Error(`job ${jobId} did not end with its queues empty (containers died after ${diesAfter})`);
  }

  /**
   * How a job must end: its status (by default, as its counts make it), how many of its first items
   * failed (a dead-lettered chunk's), and a reason any item may have failed for, and its scan have
   * ended early for (a dead-lettered submission's).
   */
  interface End {
    readonly status?: JobStatus;
    readonly failedItems?: number;
    readonly mayFail?: string;
  }

  /**
   * Every item's result exactly once, in item order: the model's answer, or cancelled if the job was
   * cancelled; the job ended as `status` with counters equal to its results.
   */
  async function expectEveryResultOnce(jobId: string, diesAfter: number, end: End): Promise<void> {
    const { failedItems = 0, mayFail } = end;
    const job = await store().getJob(jobId);
    const because = `containers died after ${diesAfter} requests`;
    const results =
      job?.resultsTo === 's3'
        ? await resultLines(s3.client, Bucket, jobId)
        : await allResults(store(), jobId, 10);
    // Only a scan that a dead letter ended leaves lines unread, and the job says so.
    const total = mayFail && job?.statusReason?.includes(mayFail) ? job.total : ITEMS;
    expect(
      results.map((r) => r.index),
      because,
    ).toEqual(Array.from({ length: total }, (_, i) => i));
    const status = end.status ?? terminalStatus({ ...countsOf(results), statusReason: job?.statusReason });
    for (const [i, result] of results.entries()) {
      const sum = expect.objectContaining({ name: 'OUTPUT0', data: Array(16).fill(i + 1) });
      const answer = { id: `item-${i}`, outputs: expect.arrayContaining([sum]) };
      if (i < failedItems) expect(result, because).toMatchObject({ error: DEAD_LETTER_REASON });
      else if (mayFail && 'error' in result) expect(result.error, because).toContain(mayFail);
      else if (status === 'CANCELLED' && 'cancelled' in result)
        expect(result, because).toMatchObject({ cancelled: true });
      else expect(result, because).toMatchObject(answer);
    }
    expect(job, because).toMatchObject({ status, total, ...countsOf(results) });
    // An ended job holds no share of its owner's window.
    expect(await store().pacedJobs(OWNER), because).not.toContain(jobId);
  }

  /**
   * Runs `scenario` (which returns how many deliveries died) with containers dying after k = 1, 2, ...
   * requests, until no delivery makes k requests: every point of every delivery's path.
   */
  async function atEveryPoint(
    name: string,
    scenario: (jobId: string, diesAfter: number) => Promise<number>,
    end: End = { status: 'SUCCEEDED' },
  ) {
    let points = 0;
    for (let diesAfter = 1; ; diesAfter++) {
      const jobId = `${name}-${diesAfter}`;
      const died = await scenario(jobId, diesAfter);
      await expectEveryResultOnce(jobId, diesAfter, end);
      points = diesAfter;
      if (died === 0) break;
    }
    // The paths have many points to die at.
    expect(points).toBeGreaterThan(8);
  }

  /** Stores the job and queues its fan-out message, as the API does. */
  const submit = async (jobId: string, submission: BatchSubmission) => {
    const models = new ModelCache(new ModelRegistry(dynamodb, 'registry'), { ttlMs: 0 });
    await submitJob(store(), models, {
      owner: OWNER,
      jobId,
      submission,
      inputBucket: { s3: s3.client, bucket: Bucket },
      // Chunks of one batch, so that a job of a few items has several chunks to die between.
      chunkItems: SIMPLE_VERSION.maxBatchSize,
    });
    await sqs.send(
      new SendMessageCommand({ QueueUrl: submissionsQueueUrl, MessageBody: JSON.stringify({ jobId }) }),
    );
  };

  it.each(Object.keys(JOBS) as (keyof typeof JOBS)[])(
    'ends a job of %s with every result once, wherever containers die',
    async (kind) => {
      await atEveryPoint(kind.replaceAll(' ', '-'), async (jobId, diesAfter) => {
        await submit(jobId, await JOBS[kind]());
        return (await runJob(jobId, diesAfter)).died;
      });
    },
    180_000,
  );

  /** The first run's failure of every item: the model fails every call, with no outage budget. */
  const FIRST_RUN_FAILURE = 'longer than the batch outage budget of 0 s';

  /** Submits a job of `kind`, runs it with every item failing (FIRST_RUN_FAILURE), and retries it. */
  async function retryFailedJob(jobId: string, kind: keyof typeof JOBS) {
    await submit(jobId, await JOBS[kind]());
    await modelFaults({ failNext: 1000, failStatus: 0 });
    await runJob(jobId, Number.POSITIVE_INFINITY, { outageBudgetSeconds: 0 });
    await modelFaults(null);
    expect(await store().getJob(jobId)).toMatchObject({ status: 'FAILED', failed: ITEMS });
    const retrying = {
      store: store(),
      sqs,
      submissionsQueueUrl,
      resultFiles: { s3: s3.client, bucket: Bucket },
    };
    await retryJob(retrying, OWNER_PRINCIPAL, jobId);
  }

  it.each(['items', 'an input file'] as const)(
    'retries a failed job of %s with every result once, wherever containers die',
    async (kind) => {
      await atEveryPoint(`retry-${kind.replaceAll(' ', '-')}`, async (jobId, diesAfter) => {
        await retryFailedJob(jobId, kind);
        return (await runJob(jobId, diesAfter)).died;
      });
    },
    180_000,
  );

  // The retry's chunks that ran keep their new results; the others stay failed as the first run
  // left them, and the retry is counted out, so the job ends again.
  it('ends a retry of a failed job of items whose fan-out is dead-lettered where its container died, with every result once', async () => {
    let kept = 0;
    await atEveryPoint(
      'dead-retry-items',
      async (jobId, diesAfter) => {
        await retryFailedJob(jobId, 'items');
        const { died } = await runJob(jobId, diesAfter, { deadLetterSubmissions: true });
        kept += (await store().getJob(jobId))?.failed ?? 0;
        return died;
      },
      { mayFail: FIRST_RUN_FAILURE },
    );
    // Some retries were dead-lettered before their work was queued.
    expect(kept).toBeGreaterThan(0);
  }, 180_000);

  it('ends a job of items whose chunks wait out a model outage with every result once, wherever containers die', async () => {
    let deferrals = 0;
    await atEveryPoint('outage', async (jobId, diesAfter) => {
      await submit(jobId, await JOBS.items());
      // The model fails its next calls, dying deliveries' included: the chunks that meet it are deferred.
      await modelFaults({ failNext: 4, failStatus: 0 });
      try {
        const { died, deferred } = await runJob(jobId, diesAfter);
        deferrals += deferred;
        return died;
      } finally {
        await modelFaults(null);
      }
    });
    // The outage deferred chunks rather than failing them.
    expect(deferrals).toBeGreaterThan(0);
  }, 180_000);

  it.each([
    ['items', 'before it runs'],
    ['an input file', 'before it runs'],
    ['items', 'while it runs'],
    ['an input file', 'while it runs'],
  ] as const)(
    'ends a job of %s cancelled %s with every result once, wherever containers die',
    async (kind, when) => {
      let stopped = 0;
      await atEveryPoint(
        `cancelled-${when.split(' ')[0]}-${kind.replaceAll(' ', '-')}`,
        async (jobId, diesAfter) => {
          const cancel = () => cancelJob(store(), OWNER_PRINCIPAL, jobId);
          await submit(jobId, await JOBS[kind]());
          if (when === 'before it runs') await cancel();
          const { died } = await runJob(jobId, diesAfter, {
            afterFirstWork: when === 'while it runs' ? cancel : undefined,
          });
          stopped += (await store().getJob(jobId))?.cancelled ?? 0;
          return died;
        },
        { status: 'CANCELLED' },
      );
      // The cancel came while chunks were left to stop.
      expect(stopped).toBeGreaterThan(0);
    },
    180_000,
  );

  // The dead-letter function records a file job's chunk as a cancel's release does (`endChunk`),
  // which the cancelled file jobs above cover.
  it('ends a job of items whose first chunk is dead-lettered with every result once, wherever containers die', async () => {
    await atEveryPoint(
      'dead-lettered-items',
      async (jobId, diesAfter) => {
        await submit(jobId, await JOBS.items());
        const { died } = await runJob(jobId, diesAfter, {
          deadLetter: (work) => work.chunk === 0 && work.attempt === undefined,
        });
        return died;
      },
      { status: 'COMPLETED_WITH_ERRORS', failedItems: SIMPLE_VERSION.maxBatchSize },
    );
  }, 180_000);

  // Two scans of one job at once must plan the same chunks, and two workers of one chunk count it once
  // (batch.test.ts and batch-inputs.test.ts do so at chosen points; this at every point).
  it('ends a job of an input file with every result once when every message is also delivered to a second container at once, wherever containers die', async () => {
    await atEveryPoint('duplicated-an-input-file', async (jobId, diesAfter) => {
      await submit(jobId, await JOBS['an input file']());
      return (await runJob(jobId, diesAfter, { duplicates: true })).died;
    });
  }, 180_000);

  // Its work may be partly queued: the chunks that run keep their results, the others fail, and the
  // job leaves its owner's window though its stall watch may never have started.
  it.each(Object.keys(JOBS) as (keyof typeof JOBS)[])(
    'ends a job of %s whose submission is dead-lettered where its container died, with every result once',
    async (kind) => {
      let failed = 0;
      await atEveryPoint(
        `dead-submission-${kind.replaceAll(' ', '-')}`,
        async (jobId, diesAfter) => {
          await submit(jobId, await JOBS[kind]());
          const { died } = await runJob(jobId, diesAfter, { deadLetterSubmissions: true });
          failed += (await store().getJob(jobId))?.failed ?? 0;
          return died;
        },
        { mayFail: DEAD_SUBMISSION_REASON },
      );
      // The dead letters failed items that no work message was queued for.
      expect(failed).toBeGreaterThan(0);
    },
    180_000,
  );

  it('ends a job of items whose work went missing through its stall watch with every result once, wherever containers die', async () => {
    let stalled = 0;
    await atEveryPoint(
      'stalled-items',
      async (jobId, diesAfter) => {
        await submit(jobId, await JOBS.items());
        // With nothing queued the next check finds the job still: a stall timeout of 0 ends it then.
        const { died } = await runJob(jobId, diesAfter, {
          lose: (work) => work.chunk === 1 && work.attempt === undefined,
          stallTimeoutSeconds: 0,
        });
        // A release that died between its send and its record sends the lost chunk's work again.
        if ((await store().getJob(jobId))?.failed) stalled++;
        return died;
      },
      { mayFail: 'the job made no progress for' },
    );
    expect(stalled).toBeGreaterThan(0);
  }, 180_000);
});
