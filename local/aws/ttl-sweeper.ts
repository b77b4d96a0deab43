import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { type PeriodicSweep, startPeriodicSweep } from './periodic-sweep';

/** A table whose TTL the platform enables, and the attribute it names (as `TimeToLiveSpecification` does). */
export interface TtlTable {
  readonly tableName: string;
  /** The key attributes, so that an expired item can be deleted by its key. */
  readonly keys: readonly string[];
  readonly attribute: string;
}

/** Its passes go over every table; each resolves with how many items it deleted. */
export type TtlSweeper = PeriodicSweep;

/**
 * DynamoDB's TTL for dynalite, which has none. An item is expired once its TTL attribute, a Number
 * of epoch seconds, is less than the current time (UpdateTimeToLive in the DynamoDB API reference,
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html); an
 * item whose attribute is absent or of another type never expires. Each pass scans the tables and
 * deletes the expired items, each on the condition that its attribute still holds the value the
 * scan read, so an item whose expiry a writer moved meanwhile stays. AWS deletes late too
 * ("typically within two days", same page): readers must not rely on an expired item being gone,
 * and the passes here run every `intervalMs`, not at the second an item expires.
 */
export function startTtlSweeper(
  client: DynamoDBClient,
  tables: readonly TtlTable[],
  options: { readonly intervalMs: number; readonly now?: () => number },
): TtlSweeper {
  const now = options.now ?? Date.now;
  return startPeriodicSweep(
    () =>
      Promise.all(tables.map((table) => sweepTable(client, table, now()))).then((counts) =>
        counts.reduce((a, b) => a + b, 0),
      ),
    options.intervalMs,
  );
}

async function sweepTable(client: DynamoDBClient, table: TtlTable, nowMs: number): Promise<number> {
  const nowSeconds = String(Math.floor(nowMs / 1000));
  let deleted = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    // A comparison with a Number matches Number attributes only, as TTL reads only those.
    const page = await client.send(
      new ScanCommand({
        TableName: table.tableName,
        FilterExpression: '#ttl < :now',
        ExpressionAttributeNames: { '#ttl': table.attribute },
        ExpressionAttributeValues: { ':now': { N: nowSeconds } },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) {
      if (await deleteExpired(client, table, item)) deleted++;
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return deleted;
}

async function deleteExpired(
  client: DynamoDBClient,
  table: TtlTable,
  item: Record<string, AttributeValue>,
): Promise<boolean> {
  try {
    await client.send(
      new DeleteItemCommand({
        TableName: table.tableName,
        Key: Object.fromEntries(table.keys.map((key) => [key, item[key]!])),
        ConditionExpression: '#ttl = :seen',
        ExpressionAttributeNames: { '#ttl': table.attribute },
        ExpressionAttributeValues: { ':seen': item[table.attribute]! },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
