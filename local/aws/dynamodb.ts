import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { BATCH_KEYS, COUNTER_KEYS, REGISTRY_KEYS } from '../../contracts/table-keys';
import { listenOnLoopback } from '../loopback';

export interface LocalDynamoDb {
  readonly url: string;
  close(): Promise<void>;
}

/** dynalite in memory on 127.0.0.1, with table changes taking effect at once. */
export async function startDynamoDb(port = 0): Promise<LocalDynamoDb> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const { url } = await listenOnLoopback(server, port);
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The registry table with the key schema the CDK stack deploys. */
export async function createRegistryTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: REGISTRY_KEYS.partitionKey, AttributeType: 'S' },
        { AttributeName: REGISTRY_KEYS.sortKey, AttributeType: 'S' },
        { AttributeName: REGISTRY_KEYS.modelsIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: REGISTRY_KEYS.modelsIndex.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: REGISTRY_KEYS.partitionKey, KeyType: 'HASH' },
        { AttributeName: REGISTRY_KEYS.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: REGISTRY_KEYS.modelsIndex.name,
          KeySchema: [
            { AttributeName: REGISTRY_KEYS.modelsIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: REGISTRY_KEYS.modelsIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['name', 'createdAt'] },
        },
      ],
    }),
  );
}

/** A counter table (rate limits, circuits) with the key schema the CDK stack deploys (dynalite has no TTL; nothing relies on it). */
export async function createCounterTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: COUNTER_KEYS.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: COUNTER_KEYS.partitionKey, KeyType: 'HASH' }],
    }),
  );
}

/** The batch table (jobs, chunk inputs, chunk results) with the key schema the CDK stack deploys. */
export async function createBatchTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, sortKey, ownerIndex } = BATCH_KEYS;
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: partitionKey, AttributeType: 'S' },
        { AttributeName: sortKey, AttributeType: 'S' },
        { AttributeName: ownerIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: ownerIndex.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: ownerIndex.name,
          KeySchema: [
            { AttributeName: ownerIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: ownerIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    }),
  );
}
