import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCounterTable, startDynamoDb } from '../../local/aws/dynamodb';
import { startS3 } from '../../local/aws/s3';
import { startSqs } from '../../local/aws/sqs';
import { asRedeploy } from '../../local/redeploy';
import { openStateDir, StateDirInUseError, startStateOptions } from '../../local/state-dir';

const REGION = 'us-east-1';

/** Each emulator started on a state directory, stopped, and started again on it. */
describe('local emulators on a state directory', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'local-state-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('S3 keeps buckets and objects, a multipart ETag included, and forgets deleted ones', async () => {
    const first = await startS3({ region: REGION, stateDir: dir });
    await first.createBucket('store');
    await first.client.send(
      new PutObjectCommand({
        Bucket: 'store',
        Key: 'models/a/b.tar.gz',
        Body: 'archive',
        ContentType: 'application/gzip',
        Metadata: { sha256: 'abc' },
      }),
    );
    await first.client.send(new PutObjectCommand({ Bucket: 'store', Key: 'gone', Body: 'x' }));
    await first.client.send(new DeleteObjectCommand({ Bucket: 'store', Key: 'gone' }));
    const { UploadId } = await first.client.send(
      new CreateMultipartUploadCommand({ Bucket: 'store', Key: 'big' }),
    );
    const part = await first.client.send(
      new UploadPartCommand({ Bucket: 'store', Key: 'big', UploadId, PartNumber: 1, Body: 'parts' }),
    );
    const completed = await first.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'store',
        Key: 'big',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    await first.close();

    const second = await startS3({ region: REGION, stateDir: dir });
    try {
      await second.createBucket('store');
      const listed = await second.client.send(new ListObjectsV2Command({ Bucket: 'store' }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual(['big', 'models/a/b.tar.gz']);
      const archive = await second.client.send(
        new GetObjectCommand({ Bucket: 'store', Key: 'models/a/b.tar.gz' }),
      );
      expect(await archive.Body?.transformToString()).toBe('archive');
      expect(archive.ContentType).toBe('application/gzip');
      expect(archive.Metadata).toEqual({ sha256: 'abc' });
      const big = await second.client.send(new HeadObjectCommand({ Bucket: 'store', Key: 'big' }));
      expect(big.ETag).toBe(completed.ETag);
      expect(big.ETag).toMatch(/-1"$/);
    } finally {
      await second.close();
    }
  });

  it('S3 in memory keeps nothing', async () => {
    const first = await startS3({ region: REGION });
    await first.createBucket('store');
    await first.close();
    const second = await startS3({ region: REGION });
    try {
      await expect(second.client.send(new ListObjectsV2Command({ Bucket: 'store' }))).rejects.toThrow();
    } finally {
      await second.close();
    }
  });

  it('SQS keeps queued messages, and one in flight at a stop comes back after its visibility timeout', async () => {
    const first = await startSqs({ region: REGION, stateDir: dir });
    const { queueUrl } = await first.createQueue('work', { VisibilityTimeout: '2' });
    for (const body of ['deleted', 'in flight', 'queued']) {
      await first.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    }
    const received = await first.client.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 2 }),
    );
    expect(received.Messages?.map((m) => m.Body)).toEqual(['deleted', 'in flight']);
    await first.client.send(
      new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: received.Messages![0]!.ReceiptHandle }),
    );
    await first.close();

    const second = await startSqs({ region: REGION, stateDir: dir });
    try {
      // The same queue, with the attributes a redeploy gives it; its URL names the port SQS now listens on.
      const again = await second.createQueue('work', { VisibilityTimeout: '3' });
      const port = (queueUrl: string) => /^http:\/\/[^/]+:(\d+)\//.exec(queueUrl)?.[1];
      expect(again.queueUrl).toBe(queueUrl.replace(`:${port(queueUrl)}/`, `:${new URL(second.url).port}/`));
      const receive = () =>
        second.client.send(
          new ReceiveMessageCommand({
            QueueUrl: again.queueUrl,
            MaxNumberOfMessages: 10,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        );
      const now = await receive();
      expect(now.Messages?.map((m) => m.Body)).toEqual(['queued']);
      await new Promise((resolve) => setTimeout(resolve, 2_200));
      const later = await receive();
      expect(later.Messages?.map((m) => [m.Body, m.Attributes?.ApproximateReceiveCount])).toEqual([
        ['in flight', '2'],
      ]);
    } finally {
      await second.close();
    }
  });

  it('DynamoDB keeps tables and items, and refuses a kept table whose keys changed', async () => {
    const first = await startDynamoDb({ path: join(dir, 'dynamodb') });
    const client = (url: string) =>
      new DynamoDBClient({
        endpoint: url,
        region: REGION,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
    const writer = client(first.url);
    await createCounterTable(writer, 'counters');
    await writer.send(new PutItemCommand({ TableName: 'counters', Item: { pk: { S: 'a' }, n: { N: '3' } } }));
    await writer.send(
      new CreateTableCommand({
        TableName: 'registry',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'other', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'other', KeyType: 'HASH' }],
      }),
    );
    writer.destroy();
    await first.close();

    const second = await startDynamoDb({ path: join(dir, 'dynamodb') });
    const reader = client(second.url);
    try {
      await createCounterTable(reader, 'counters');
      const { Item } = await reader.send(
        new GetItemCommand({ TableName: 'counters', Key: { pk: { S: 'a' } } }),
      );
      expect(Item?.n).toEqual({ N: '3' });
      await expect(createCounterTable(reader, 'registry')).rejects.toThrow(/--fresh/);
    } finally {
      reader.destroy();
      await second.close();
    }
  });
});

describe('the state directory', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'state-dir-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused to a second platform while the first runs, and taken over from one that died', () => {
    // The parent process stands for another platform that is running.
    writeFileSync(join(dir, 'platform.pid'), `${process.ppid}\n`);
    expect(() => openStateDir(dir)).toThrow(StateDirInUseError);
    // A pid no process has: the platform that held it is gone.
    writeFileSync(join(dir, 'platform.pid'), '2147483646\n');
    const state = openStateDir(dir);
    state.release();
    expect(existsSync(join(dir, 'platform.pid'))).toBe(false);
  });

  it('is emptied by --fresh', () => {
    writeFileSync(join(openStateDir(dir).of('s3'), 'kept'), '');
    const fresh = openStateDir(dir, { fresh: true });
    expect(existsSync(join(dir, 's3', 'kept'))).toBe(false);
    fresh.release();
  });

  it('is where npm start keeps its state unless --in-memory says otherwise', () => {
    expect(startStateOptions([], {}).stateDir).toMatch(/\.local\/state$/);
    expect(startStateOptions([], { LOCAL_STATE_DIR: dir })).toEqual({ stateDir: dir, freshState: false });
    expect(startStateOptions(['--fresh'], { LOCAL_STATE_DIR: dir })).toEqual({
      stateDir: dir,
      freshState: true,
    });
    expect(startStateOptions(['--in-memory'], {})).toEqual({ freshState: false });
    expect(() => startStateOptions(['--fresh', '--in-memory'], {})).toThrow(/exclude/);
    expect(() => startStateOptions(['--persist'], {})).toThrow();
  });
});

describe('a start on kept state, as a redeploy', () => {
  it('sends a custom resource nothing while its properties are unchanged, else an Update with the old ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redeploy-'));
    const received: CloudFormationCustomResourceEvent[] = [];
    const deploy = asRedeploy(
      async (event) => {
        received.push(event);
        return { PhysicalResourceId: 'registry-seed' };
      },
      join(dir, 'deployment.json'),
    );
    const create = (models: string): CloudFormationCustomResourceEvent => ({
      RequestType: 'Create',
      ResourceType: 'Custom::RegistrySeed',
      ResourceProperties: { ServiceToken: 'local', Models: models },
      ServiceToken: 'local',
      ResponseURL: 'http://127.0.0.1:9/',
      StackId: 'stack',
      RequestId: 'request',
      LogicalResourceId: 'Seed',
    });
    try {
      await deploy(create('[1]'));
      await deploy(create('[1]'));
      await deploy(create('[1,2]'));
      expect(received.map((e) => e.RequestType)).toEqual(['Create', 'Update']);
      expect(received[1]).toMatchObject({
        PhysicalResourceId: 'registry-seed',
        OldResourceProperties: { Models: '[1]' },
        ResourceProperties: { Models: '[1,2]' },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
