import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  type KeySchemaElement,
  ResourceNotFoundException,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { BATCH_KEYS, COUNTER_KEYS, REGISTRY_KEYS } from '../../contracts/table-keys';
import type { DynamoDbThreadData, DynamoDbThreadMessage } from './dynamodb-thread';
import { runtimeWorker } from './function-builds';

export interface LocalDynamoDb {
  readonly url: string;
  close(): Promise<void>;
}

const THREAD = fileURLToPath(new URL('./dynamodb-thread.ts', import.meta.url));

/**
 * dynalite on 127.0.0.1, on a thread of its own (dynamodb-thread.ts), with table changes taking
 * effect at once: in memory, or in a LevelDB directory (`path`), where tables and items outlive the
 * process. LevelDB appends each write to its log before dynalite answers, so an acknowledged write
 * survives the process being killed.
 */
export async function startDynamoDb(options: { port?: number; path?: string } = {}): Promise<LocalDynamoDb> {
  const data: DynamoDbThreadData = {
    port: options.port ?? 0,
    ...(options.path ? { path: options.path } : {}),
  };
  const worker = runtimeWorker(THREAD, { workerData: data });
  const next = () =>
    new Promise<DynamoDbThreadMessage>((resolve, reject) => {
      const exited = (code: number) =>
        reject(new Error(`the DynamoDB emulator's thread exited with code ${code}`));
      worker.once('error', reject);
      worker.once('exit', exited);
      worker.once('message', (message: DynamoDbThreadMessage) => {
        worker.off('error', reject);
        worker.off('exit', exited);
        resolve(message);
      });
    });
  const started = await next().catch(async (error: unknown) => {
    await worker.terminate();
    throw error;
  });
  if (started.kind !== 'listening') {
    await worker.terminate();
    throw new Error(started.kind === 'failed' ? started.message : 'the DynamoDB emulator did not start');
  }
  let closed: Promise<void> | undefined;
  return {
    url: started.url,
    close: () => {
      closed ??= (async () => {
        const done = next().catch(() => undefined);
        worker.postMessage('close');
        await done;
        await worker.terminate();
      })();
      return closed;
    },
  };
}

/** The registry table with the key schema the CDK stack deploys. */
export async function createRegistryTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await ensureTable(client, {
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
  });
}

/** A counter table (rate limits, circuits) with the key schema the CDK stack deploys (dynalite has no TTL; nothing relies on it). */
export async function createCounterTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await ensureTable(client, {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: COUNTER_KEYS.partitionKey, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: COUNTER_KEYS.partitionKey, KeyType: 'HASH' }],
  });
}

/** The batch table (jobs, chunk inputs, chunk results) with the key schema the CDK stack deploys. */
export async function createBatchTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const { partitionKey, sortKey, ownerIndex } = BATCH_KEYS;
  await ensureTable(client, {
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
  });
}

/**
 * Waits for a new table to be ACTIVE: CreateTable answers while it is CREATING, and item requests
 * to it fail with ResourceNotFoundException until then ("its status might not be ACTIVE", the
 * error's definition in DynamoDB's service model; docs/local-platform.md), on dynalite too: it turns a table ACTIVE a moment later,
 * after a write that a state directory puts on disk.
 */
async function untilActive(client: DynamoDBClient, tableName: string): Promise<void> {
  for (let tries = 0; ; tries++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (tries === 500) throw new Error(`table ${tableName} is still ${Table?.TableStatus} after 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Creates a table unless it exists, as a redeploy leaves a table in place. One kept from an earlier
 * start whose keys or indexes differ from the ones deployed now cannot be updated in place (a stack
 * would replace it, dropping its items), so the start stops and says how to begin afresh.
 */
async function ensureTable(client: DynamoDBClient, table: CreateTableCommandInput): Promise<void> {
  let existing: TableDescription | undefined;
  try {
    ({ Table: existing } = await client.send(new DescribeTableCommand({ TableName: table.TableName })));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    await client.send(new CreateTableCommand(table));
    await untilActive(client, table.TableName!);
    return;
  }
  type Keys = {
    KeySchema?: KeySchemaElement[];
    GlobalSecondaryIndexes?: { IndexName?: string; KeySchema?: KeySchemaElement[] }[];
  };
  const keysOf = (t: Keys) =>
    JSON.stringify([
      t.KeySchema?.map((k) => [k.AttributeName, k.KeyType]),
      (t.GlobalSecondaryIndexes ?? [])
        .map((i) => [i.IndexName, i.KeySchema?.map((k) => [k.AttributeName, k.KeyType])])
        .sort(),
    ]);
  if (keysOf(existing ?? {}) !== keysOf(table)) {
    throw new Error(
      `table ${table.TableName} in the state directory has other keys or indexes than this version of the platform deploys: start with npm start -- --fresh`,
    );
  }
}
