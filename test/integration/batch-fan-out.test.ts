import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchApiStore } from '../../functions/batch/batch-store';
import { jobIdFor } from '../../functions/batch/submission';
import { ModelRegistry } from '../../functions/registry/registry';
import type { LambdaHandler } from '../../local/aws/api-gateway';
import {
  createBatchTable,
  createRegistryTable,
  type LocalDynamoDb,
  startDynamoDb,
} from '../../local/aws/dynamodb';
import { type LocalEventBridge, startEventBridge } from '../../local/aws/eventbridge';
import { startSqsEventSource } from '../../local/aws/sqs-event-source';
import { lambdaContext } from '../helpers/events';
import { LOCAL_CREDENTIALS, localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const credentials = LOCAL_CREDENTIALS;
const region = 'us-east-1';
const ones = Array.from({ length: 16 }, () => 1);
const item = {
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ones },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ones },
  ],
};

const record = (messageId: string, body: string): SQSRecord => ({
  messageId,
  receiptHandle: messageId,
  body,
  attributes: {
    ApproximateReceiveCount: '1',
    SentTimestamp: '0',
    SenderId: 'test',
    ApproximateFirstReceiveTimestamp: '0',
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:submissions',
  awsRegion: region,
});

describe('batch fan-out handler on dynalite and fauxqs', () => {
  let dynamo: LocalDynamoDb;
  let eventBridge: LocalEventBridge;
  let fauxqs: FauxqsServer;
  let sqs: SQSClient;
  let store: BatchApiStore;
  let workQueueUrl: string;
  let handler: LambdaHandler<SQSEvent, SQSBatchResponse>;
  let submissionsQueueUrl: string;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    fauxqs = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    const dynamodb = localDynamoDb(dynamo.url);
    await createRegistryTable(dynamodb, 'registry');
    await createBatchTable(dynamodb, 'batch');
    await new ModelRegistry(dynamodb, 'registry').putVersion({
      name: 'simple',
      version: '1',
      platform: 'onnxruntime_onnx',
      ...SIMPLE_SIGNATURE,
      backends: [{ endpointName: 'triton', weight: 100 }],
      status: 'ACTIVE',
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    });
    store = new BatchApiStore(dynamodb, 'batch');
    sqs = new SQSClient({ endpoint: fauxqs.address, region, credentials });
    workQueueUrl = fauxqs.createQueue('work').queueUrl;
    submissionsQueueUrl = fauxqs.createQueue('submissions').queueUrl;
    eventBridge = await startEventBridge({ buses: ['batch-events'], region });
    // The handler reads its environment when its module loads, as in Lambda.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
      BATCH_DATA_BUCKET: 'batch-data',
      BATCH_RETENTION_SECONDS: '86400',
      BATCH_EVENT_BUS_NAME: 'batch-events',
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      AWS_ENDPOINT_URL_SQS: fauxqs.address,
      BATCH_TABLE_NAME: 'batch',
      REGISTRY_TABLE_NAME: 'registry',
      WORK_QUEUE_URL: workQueueUrl,
      SUBMISSIONS_QUEUE_URL: submissionsQueueUrl,
      BATCH_STALL_TIMEOUT_SECONDS: '2',
      BATCH_WORK_WINDOW: '3',
    });
    ({ handler } = (await import('../../functions/handlers/batch-fan-out/handler')) as unknown as {
      handler: LambdaHandler<SQSEvent, SQSBatchResponse>;
    });
  });

  afterAll(async () => {
    await eventBridge?.close();
    sqs?.destroy();
    await fauxqs?.stop();
    await dynamo?.close();
  });

  it('reports malformed messages as item failures and fans out the valid one', async () => {
    // Prepare
    const event: SQSEvent = {
      Records: [
        record('not-json', '{"model":'),
        record('unknown-model', JSON.stringify({ model: 'nope', owner: 'alice', items: [item] })),
        record('no-owner', JSON.stringify({ model: 'simple', items: [item] })),
        record(
          'valid',
          JSON.stringify({ model: 'simple', owner: 'alice', jobId: 'from-sqs', items: [item, item] }),
        ),
      ],
    };

    // Act
    const response = await handler(event, lambdaContext('fan-out'));

    // Assess
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([
      'no-owner',
      'not-json',
      'unknown-model',
    ]);
    expect(await store.getJob('from-sqs')).toMatchObject({
      owner: 'alice',
      status: 'RUNNING',
      total: 2,
      chunks: 1,
    });
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: workQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(Messages.map((m) => JSON.parse(m.Body!))).toEqual([{ jobId: 'from-sqs', chunk: 0 }]);
    // The job's stall check, delayed by half the stall timeout.
    const { Messages: checks = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: submissionsQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 3,
      }),
    );
    const { watch } = (await store.getJobRecord('from-sqs'))!;
    expect(checks.map((m) => JSON.parse(m.Body!))).toEqual([
      { jobId: 'from-sqs', watch: { token: watch!.token } },
    ]);
  });

  /** The checks of `jobId` queued on the submissions queue (each delayed by half the stall timeout). */
  async function checksOf(jobId: string): Promise<unknown[]> {
    const checks: unknown[] = [];
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: submissionsQueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 2,
        }),
      );
      if (Messages.length === 0) return checks;
      checks.push(...Messages.map((m) => JSON.parse(m.Body!)).filter((body) => body.jobId === jobId));
    }
  }

  it("leaves another owner's running job to its own stall check, whatever check or fan-out message a queue sender sends", async () => {
    // Prepare: alice's job runs; no worker takes its work, so it makes no progress.
    const owned = JSON.stringify({
      model: 'simple',
      owner: 'alice',
      jobId: 'forged-at',
      items: [item, item],
    });
    await handler({ Records: [record('forged-at', owned)] }, lambdaContext('fan-out'));
    const before = (await store.getJobRecord('forged-at'))!;
    const forged = [
      // Still since the epoch, or since now: once ended the job at once, once started a second chain.
      { jobId: 'forged-at', watch: { updatedAt: before.updatedAt, since: 0 } },
      { jobId: 'forged-at', watch: { updatedAt: before.updatedAt, since: Date.now() } },
      { jobId: 'forged-at', watch: { token: 'a-guess' } },
      // The job's fan-out, its scan and a retry it never had.
      { jobId: 'forged-at' },
      { jobId: 'forged-at', scan: true },
      { jobId: 'forged-at', retry: 1 },
    ];

    // Act
    const response = await handler(
      { Records: forged.map((body, i) => record(`forged-${i}`, JSON.stringify(body))) },
      lambdaContext('fan-out'),
    );

    // Assess: nothing failed, ended, was sent again or watched twice.
    expect(response.batchItemFailures).toEqual([]);
    expect(await store.getJobRecord('forged-at')).toEqual(before);
    expect(await checksOf('forged-at')).toEqual([
      { jobId: 'forged-at', watch: { token: before.watch!.token } },
    ]);
  });

  it('names a job after its message id when the message has no jobId, so a redelivery makes no second job', async () => {
    const body = JSON.stringify({ model: 'simple', owner: 'bob', items: [item] });
    await handler({ Records: [record('message-1', body)] }, lambdaContext('fan-out'));
    await handler({ Records: [record('message-1', body)] }, lambdaContext('fan-out'));
    expect((await store.listJobs('bob', 10)).items.map((j) => j.jobId)).toEqual(['message-1']);
  });

  it("refuses a message that names a keyed job id, another owner's job or an ill-formed owner", async () => {
    // Prepare: alice's job, named over SQS.
    const named = JSON.stringify({ model: 'simple', owner: 'alice', jobId: 'alice-named', items: [item] });
    await handler({ Records: [record('alice-named', named)] }, lambdaContext('fan-out'));
    const keyed = jobIdFor('alice', 'her-key');
    const claim = { model: 'simple', owner: 'mallory', items: [item, item] };

    // Act
    const response = await handler(
      {
        Records: [
          record('claim-keyed', JSON.stringify({ ...claim, jobId: keyed })),
          record('attach', JSON.stringify({ ...claim, jobId: 'alice-named' })),
          record('lone-surrogate', JSON.stringify({ ...claim, owner: 'alice\uD800', jobId: 'lone-owner' })),
        ],
      },
      lambdaContext('fan-out'),
    );

    // Assess
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([
      'attach',
      'claim-keyed',
      'lone-surrogate',
    ]);
    expect(await store.getJob(keyed)).toBeUndefined();
    expect(await store.getJob('alice-named')).toMatchObject({ owner: 'alice', total: 1 });
    expect(await store.getJob('lone-owner')).toBeUndefined();
  });

  it('keeps one job per named id when one batch of messages names it with two bodies, failing the other body', async () => {
    // Prepare: ten messages for one job id, handled in parallel; every other one has three items.
    const bodies = Array.from({ length: 10 }, (_, i) =>
      JSON.stringify({
        model: 'simple',
        owner: 'carol',
        jobId: 'named-twice',
        items: i % 2 ? [item] : [item, item, item],
      }),
    );

    // Act
    const response = await handler(
      { Records: bodies.map((body, i) => record(`twice-${i}`, body)) },
      lambdaContext('fan-out'),
    );

    // Assess: the messages of the job's own body went through; each of the other body failed.
    const job = await store.getJob('named-twice');
    const won = job?.total === 3 ? 0 : 1;
    expect(job).toMatchObject({ owner: 'carol', status: 'RUNNING', chunks: 1 });
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      bodies.map((_, i) => `twice-${i}`).filter((_, i) => i % 2 !== won),
    );
  });

  it('makes a message it fails visible again after its backoff, not the queue visibility timeout', async () => {
    // Prepare: the submissions queue hides a received message for half an hour, as deployed.
    const queue = fauxqs.createQueue('submissions', { attributes: { VisibilityTimeout: '1800' } });
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: '{"model":' }));
    const receive = async () =>
      (
        await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queue.queueUrl,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        )
      ).Messages?.[0];
    const received = (await receive())!;
    // A first delivery (the helper's receive count is 1), with the receipt handle SQS gave it.
    const failed: SQSRecord = {
      ...record(received.MessageId!, received.Body!),
      receiptHandle: received.ReceiptHandle!,
    };

    // Act
    const response = await handler({ Records: [failed] }, lambdaContext('fan-out'));
    const failedAt = Date.now();
    let again = await receive();
    for (let attempt = 0; attempt < 20 && !again; attempt++) again = await receive();

    // Assess: back after the first delivery's 5 s, with its receive counted.
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: received.MessageId }]);
    expect(again?.MessageId).toBe(received.MessageId);
    expect(again?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(4_000);
  });

  it('sends a malformed message to the dead-letter queue after maxReceiveCount through the event source', async () => {
    // Prepare
    const dlq = fauxqs.createQueue('submissions-dlq');
    const queue = fauxqs.createQueue('submissions', {
      attributes: {
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: 1 }),
      },
    });
    const source = startSqsEventSource({
      client: sqs,
      queueUrl: queue.queueUrl,
      queueArn: queue.queueArn,
      functionName: 'fan-out',
      handler,
      onError: () => undefined,
    });

    // Act
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: 'not json at all' }));
    let deadLetters: string[] = [];
    try {
      for (let attempt = 0; attempt < 50 && deadLetters.length === 0; attempt++) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: dlq.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
        );
        deadLetters = Messages.map((m) => m.Body ?? '');
      }
    } finally {
      await source.close();
    }

    // Assess
    expect(deadLetters).toEqual(['not json at all']);
  });
});
