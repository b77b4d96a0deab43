import { type DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCounterTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { type LocalS3, startS3 } from '../../local/aws/s3';
import { startS3LifecycleSweeper } from '../../local/aws/s3-lifecycle';
import { startTtlSweeper } from '../../local/aws/ttl-sweeper';
import { localDynamoDb } from '../helpers/local-clients';

const DAY = 86_400_000;

describe('local TTL and S3 lifecycle sweepers', () => {
  let dynamo: LocalDynamoDb;
  let dynamodb: DynamoDBClient;
  let s3: LocalS3;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    dynamodb = localDynamoDb(dynamo.url);
    await createCounterTable(dynamodb, 'counters');
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket('data');
  });

  afterAll(async () => {
    await s3?.close();
    await dynamo?.close();
  });

  it('deletes the items whose Number TTL is past, and keeps the others', async () => {
    // Prepare
    const now = 1_800_000_000_000;
    const nowSeconds = now / 1000;
    const items = {
      past: { N: String(nowSeconds - 1) },
      now: { N: String(nowSeconds) },
      future: { N: String(nowSeconds + 60) },
      text: { S: String(nowSeconds - 1) },
    };
    for (const [pk, expiresAt] of Object.entries(items)) {
      await dynamodb.send(new PutItemCommand({ TableName: 'counters', Item: { pk: { S: pk }, expiresAt } }));
    }
    await dynamodb.send(new PutItemCommand({ TableName: 'counters', Item: { pk: { S: 'none' } } }));
    const sweeper = startTtlSweeper(
      dynamodb,
      [{ tableName: 'counters', keys: ['pk'], attribute: 'expiresAt' }],
      { intervalMs: 3_600_000, now: () => now },
    );

    // Act
    const deleted = await sweeper.sweep();
    await sweeper.close();

    // Assess: expired means less than the current second, and a Number.
    const { Items = [] } = await dynamodb.send(
      new ScanCommand({ TableName: 'counters', ConsistentRead: true }),
    );
    expect(deleted).toBe(1);
    expect(Items.map((item) => item.pk?.S).sort()).toEqual(['future', 'none', 'now', 'text']);
  });

  it('keeps an item whose expiry a writer moved between the scan and the delete', async () => {
    // Prepare: a client on which the writer's update lands just before the sweeper's delete.
    const item = { pk: { S: 'moved' }, expiresAt: { N: '1' } };
    await dynamodb.send(new PutItemCommand({ TableName: 'counters', Item: item }));
    const racing = {
      send: async (command: { constructor: { name: string } }) => {
        if (command.constructor.name === 'DeleteItemCommand') {
          await dynamodb.send(
            new PutItemCommand({ TableName: 'counters', Item: { ...item, expiresAt: { N: '9999999999' } } }),
          );
        }
        return dynamodb.send(command as never);
      },
    } as unknown as DynamoDBClient;
    const sweeper = startTtlSweeper(
      racing,
      [{ tableName: 'counters', keys: ['pk'], attribute: 'expiresAt' }],
      {
        intervalMs: 3_600_000,
      },
    );

    // Act
    const deleted = await sweeper.sweep();
    await sweeper.close();

    // Assess
    const { Items = [] } = await dynamodb.send(
      new ScanCommand({ TableName: 'counters', ConsistentRead: true }),
    );
    expect(deleted).toBe(0);
    expect(Items.find((i) => i.pk?.S === 'moved')?.expiresAt).toEqual({ N: '9999999999' });
  });

  it('sweeps on its interval', async () => {
    await dynamodb.send(
      new PutItemCommand({ TableName: 'counters', Item: { pk: { S: 'soon' }, expiresAt: { N: '1' } } }),
    );
    const sweeper = startTtlSweeper(
      dynamodb,
      [{ tableName: 'counters', keys: ['pk'], attribute: 'expiresAt' }],
      {
        intervalMs: 50,
      },
    );
    try {
      await expect
        .poll(async () => {
          const { Items = [] } = await dynamodb.send(
            new ScanCommand({ TableName: 'counters', ConsistentRead: true }),
          );
          return Items.some((item) => item.pk?.S === 'soon');
        })
        .toBe(false);
    } finally {
      await sweeper.close();
    }
  });

  it('expires objects under a rule prefix once the days after their writing, rounded up to a day, have passed', async () => {
    // Prepare: objects written now, under both prefixes and elsewhere.
    for (const key of ['results/job-1/part-0.jsonl', 'inputs/o/i.jsonl', 'other/kept.txt']) {
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: 'x' }));
    }
    const written = Date.now();
    const rules = [
      { id: 'ExpireResults', prefix: 'results/', expirationDays: 2 },
      { id: 'ExpireInputs', prefix: 'inputs/', expirationDays: 3 },
    ];
    let now = written;
    const sweeper = startS3LifecycleSweeper(s3.client, 'data', rules, {
      intervalMs: 3_600_000,
      now: () => now,
    });
    const keys = async () =>
      ((await s3.client.send(new ListObjectsV2Command({ Bucket: 'data' }))).Contents ?? [])
        .map((o) => o.Key)
        .sort();

    // Act and assess: two days after writing is not yet past the next midnight UTC; the rounding is.
    now = written + 2 * DAY;
    const early = await sweeper.sweep();
    const afterTwoDays = await keys();
    now = Math.ceil((written + 2 * DAY) / DAY) * DAY;
    const results = await sweeper.sweep();
    const afterRounding = await keys();
    now = Math.ceil((written + 3 * DAY) / DAY) * DAY;
    const inputs = await sweeper.sweep();
    await sweeper.close();

    expect(early).toBe(written % DAY === 0 ? 1 : 0);
    expect(afterTwoDays).toContain('inputs/o/i.jsonl');
    expect(results).toBe(written % DAY === 0 ? 0 : 1);
    expect(afterRounding).toEqual(['inputs/o/i.jsonl', 'other/kept.txt']);
    expect(inputs).toBe(1);
    expect(await keys()).toEqual(['other/kept.txt']);
  });
});
