import {
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { limitWritesPerKey, PartitionWriteLimit } from '../../local/aws/sdk-faults';

describe('PartitionWriteLimit', () => {
  it('takes 1,000 writes a second per key, each key and each second on its own', () => {
    let clock = 5_000;
    const limit = new PartitionWriteLimit(1000, () => clock);

    const first = Array.from({ length: 1001 }, () => limit.admit('a'));

    expect(first.filter(Boolean)).toHaveLength(1000);
    expect(first.at(-1)).toBe(false);
    expect(limit.admit('b')).toBe(true);
    clock += 999; // same second
    expect(limit.admit('a')).toBe(false);
    clock += 1;
    expect(limit.admit('a')).toBe(true);
    expect({ writes: limit.writes, throttled: limit.throttled }).toEqual({ writes: 1004, throttled: 2 });
  });
});

describe('limitWritesPerKey', () => {
  // Port 9 (discard) on loopback: nothing answers, so a write that got past the limit would fail otherwise.
  const client = () =>
    new DynamoDBClient({
      endpoint: 'http://127.0.0.1:9',
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
  const update = new UpdateItemCommand({
    TableName: 't',
    Key: { pk: { S: 'k' } },
    UpdateExpression: 'ADD #c :one',
    ExpressionAttributeNames: { '#c': 'count' },
    ExpressionAttributeValues: { ':one': { N: '1' } },
  });

  it("throttles a write over the key's rate as DynamoDB does, before it leaves the client", async () => {
    const dynamodb = client();
    const limit = new PartitionWriteLimit(0);
    limitWritesPerKey(dynamodb, limit);

    await expect(dynamodb.send(update)).rejects.toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(limit.throttled).toBe(1);
    dynamodb.destroy();
  });

  it('leaves reads alone', async () => {
    const dynamodb = client();
    const limit = new PartitionWriteLimit(0);
    limitWritesPerKey(dynamodb, limit);

    const read = dynamodb.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'k' } } }));

    await expect(read).rejects.not.toBeInstanceOf(ProvisionedThroughputExceededException);
    expect(limit.writes).toBe(0);
    dynamodb.destroy();
  });
});
