import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { BadRequestError, ConflictError, NotFoundError } from '../../functions/edge/errors';
import { RegisterVersionSchema } from '../../functions/registry/api-schemas';
import { ModelCache } from '../../functions/registry/model-cache';
import { ModelRegistry } from '../../functions/registry/registry';
import { createRegistryTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { largestRegistration } from '../helpers/fuzz/registry-bodies';
import { localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const version = (name: string, v: string, overrides: Partial<ModelVersion> = {}): ModelVersion => ({
  name,
  version: v,
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: 'triton', weight: 100 }],
  status: 'ACTIVE',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...overrides,
});

const alias = (name: string, a: string, routes: { version: string; weight: number }[]) => ({
  name,
  alias: a,
  routes,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

let dynamo: LocalDynamoDb;
let tableCount = 0;

/** A client of its own, as each Lambda container has. */
function containerClient(): DynamoDBClient {
  return localDynamoDb(dynamo.url);
}

beforeAll(async () => {
  dynamo = await startDynamoDb();
});
afterAll(async () => {
  await dynamo.close();
});

describe('ModelRegistry on dynalite', () => {
  let registry: ModelRegistry;

  beforeEach(async () => {
    const table = `registry-${++tableCount}`;
    const client = containerClient();
    await createRegistryTable(client, table);
    registry = new ModelRegistry(client, table);
  });

  it('stores a version and reads it back unchanged', async () => {
    const stored = version('simple', '1', { labels: { team: 'vision' }, description: 'first' });
    await registry.putVersion(stored);
    expect(await registry.getVersion('simple', '1')).toEqual(stored);
  });

  it('answers 409 for a version that exists, unless told to replace it', async () => {
    await registry.putVersion(version('simple', '2'));
    await expect(registry.putVersion(version('simple', '2'))).rejects.toBeInstanceOf(ConflictError);
    await registry.putVersion(version('simple', '2', { description: 'replaced' }), { replace: true });
    expect((await registry.getVersion('simple', '2'))?.description).toBe('replaced');
  });

  it('reads a whole model: versions in numeric order and aliases, and no other model', async () => {
    // Prepare
    for (const v of ['10', '2', '1']) await registry.putVersion(version('simple', v));
    await registry.putVersion(version('simple-2', '1'));
    await registry.putAlias(alias('simple', 'prod', [{ version: '2', weight: 100 }]));
    // Act
    const model = await registry.getModel('simple');
    // Assess
    expect(model?.versions.map((v) => v.version)).toEqual(['1', '2', '10']);
    expect(model?.aliases).toEqual([alias('simple', 'prod', [{ version: '2', weight: 100 }])]);
    expect(await registry.getModel('missing')).toBeUndefined();
  });

  it('lists models in name order, a page at a time', async () => {
    for (const name of ['c', 'a', 'd', 'b', 'e']) await registry.putVersion(version(name, '1'));
    await registry.putVersion(version('a', '2'));
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await registry.listModels(2, token);
      names.push(...page.items.map((m) => m.name));
      token = page.nextToken;
      pages++;
    } while (token && pages < 10);
    expect(names).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it.each([
    'not-base64!',
    Buffer.from('{"pk":{"N":"1"}}').toString('base64url'),
    Buffer.from('[]').toString('base64url'),
    // Well formed, but outside the models partition: DynamoDB would reject the query.
    Buffer.from(
      JSON.stringify({
        pk: { S: 'MODEL#a' },
        sk: { S: 'MODEL' },
        gsi1pk: { S: 'OWNER#x' },
        gsi1sk: { S: 'a' },
      }),
    ).toString('base64url'),
  ])('answers 400 for a nextToken it did not issue (%s)', async (token) => {
    await expect(registry.listModels(2, token)).rejects.toBeInstanceOf(BadRequestError);
  });

  it('updates only the fields named and removes a field set to null', async () => {
    await registry.putVersion(version('simple', '1', { description: 'old', labels: { a: 'b' } }));
    const updated = await registry.updateVersion(
      'simple',
      '1',
      { status: 'DISABLED', description: null },
      '2026-02-01T00:00:00.000Z',
    );
    expect(updated).toMatchObject({
      status: 'DISABLED',
      labels: { a: 'b' },
      updatedAt: '2026-02-01T00:00:00.000Z',
    });
    expect(updated.description).toBeUndefined();
    expect(updated.inputs).toEqual(SIMPLE_SIGNATURE.inputs);
  });

  // Names of Object.prototype members: `constructor` once made the marshaller take the labels for a
  // class instance and refuse them, a 500.
  const builtInLabels = { constructor: 'a', toString: 'b', hasOwnProperty: 'c', valueOf: 'd' };

  it('stores and updates labels named like built-in object properties', async () => {
    const stored = version('simple', '1', { labels: builtInLabels });
    await registry.putVersion(stored);
    expect(await registry.getVersion('simple', '1')).toEqual(stored);
    const updated = await registry.updateVersion('simple', '1', { labels: { constructor: 'x' } }, 'now');
    expect(updated.labels).toEqual({ constructor: 'x' });
  });

  it('stores the largest version the API accepts, far below the item size limit', async () => {
    const largest = RegisterVersionSchema.parse(largestRegistration());
    await registry.putVersion({ ...largest, createdAt: 'now', updatedAt: 'now' });
    expect((await registry.getVersion(largest.name, largest.version))?.labels).toEqual(largest.labels);
  });

  it('answers 404 when updating or deleting what does not exist', async () => {
    await expect(registry.updateVersion('simple', '9', { status: 'ACTIVE' }, 'now')).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await expect(registry.deleteVersion('simple', '9')).rejects.toBeInstanceOf(NotFoundError);
    await expect(registry.deleteAlias('simple', 'prod')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('deletes a version and an alias', async () => {
    await registry.putVersion(version('simple', '1'));
    await registry.putVersion(version('simple', '2'));
    await registry.putAlias(alias('simple', 'prod', [{ version: '1', weight: 100 }]));
    await registry.deleteVersion('simple', '2');
    await registry.deleteAlias('simple', 'prod');
    const model = await registry.getModel('simple');
    expect(model?.versions.map((v) => v.version)).toEqual(['1']);
    expect(model?.aliases).toEqual([]);
  });
});

describe('ModelCache across containers on dynalite', () => {
  it('serves repeated reads from memory, shows a write at once to the writer and to others within the TTL', async () => {
    // Prepare: two containers, each with its own client, registry, cache and clock
    const table = `registry-${++tableCount}`;
    await createRegistryTable(containerClient(), table);
    let clock = 0;
    const now = () => clock;
    const writer = new ModelRegistry(containerClient(), table);
    const writerCache = new ModelCache(writer, { ttlMs: 5_000, now });
    const reader = new ModelRegistry(containerClient(), table);
    let readerCalls = 0;
    const countingReader = {
      getModel: (name: string) => {
        readerCalls++;
        return reader.getModel(name);
      },
    };
    const readerCache = new ModelCache(countingReader, { ttlMs: 5_000, now });
    await writer.putVersion(version('simple', '1'));
    expect((await readerCache.getModel('simple'))?.versions).toHaveLength(1);
    expect((await writerCache.getModel('simple'))?.versions).toHaveLength(1);

    // Act: the writer container registers a version
    await writer.putVersion(version('simple', '2'));
    writerCache.invalidate('simple');

    // Assess: the writer sees it at once; the reader keeps its copy (no call) until the TTL passes
    expect((await writerCache.getModel('simple'))?.versions).toHaveLength(2);
    clock = 4_999;
    expect((await readerCache.getModel('simple'))?.versions).toHaveLength(1);
    expect(readerCalls).toBe(1);
    clock = 5_000;
    expect((await readerCache.getModel('simple'))?.versions).toHaveLength(2);
    expect(readerCalls).toBe(2);
  });
});
