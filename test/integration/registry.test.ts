import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  latestActiveVersion,
  ModelRegistry,
  type ModelVersion,
  ModelVersionExistsError,
} from '../../functions/shared/registry';
import { createRegistryTable, type LocalDynamoDb, startDynamoDb } from '../../local/dynamodb';

const version = (v: string, overrides: Partial<ModelVersion> = {}): ModelVersion => ({
  name: 'simple',
  version: v,
  platform: 'onnxruntime_onnx',
  inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [-1, 16] }],
  outputs: [{ name: 'OUTPUT0', datatype: 'INT32', shape: [-1, 16] }],
  maxBatchSize: 8,
  backends: [{ endpointName: 'triton', weight: 100 }],
  status: 'ACTIVE',
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  ...overrides,
});

describe('ModelRegistry on dynalite', () => {
  let dynamo: LocalDynamoDb;
  let client: DynamoDBClient;
  let registry: ModelRegistry;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    client = new DynamoDBClient({
      endpoint: dynamo.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await createRegistryTable(client, 'registry');
    registry = new ModelRegistry(client, 'registry');
  });

  afterAll(async () => {
    client.destroy();
    await dynamo.close();
  });

  it('stores a version and reads it back unchanged', async () => {
    const stored = version('1', { labels: { team: 'vision' }, description: 'first' });
    await registry.putVersion(stored);
    expect(await registry.getVersion('simple', '1')).toEqual(stored);
  });

  it('refuses to register a version that exists, unless told to replace it', async () => {
    await registry.putVersion(version('2'));
    await expect(registry.putVersion(version('2'))).rejects.toBeInstanceOf(ModelVersionExistsError);
    await registry.putVersion(version('2', { description: 'replaced' }), { replace: true });
    expect((await registry.getVersion('simple', '2'))?.description).toBe('replaced');
  });

  it('lists every version of a model and no other model', async () => {
    await registry.putVersion(version('10', { status: 'DISABLED' }));
    await registry.putVersion(version('1', { name: 'simple-2' }));
    const versions = await registry.listVersions('simple');
    expect(versions.map((v) => v.version).sort()).toEqual(['1', '10', '2']);
    expect(latestActiveVersion(versions)?.version).toBe('2');
  });

  it('returns undefined for a version that does not exist', async () => {
    expect(await registry.getVersion('simple', '99')).toBeUndefined();
    expect(await registry.listVersions('missing')).toEqual([]);
  });
});
