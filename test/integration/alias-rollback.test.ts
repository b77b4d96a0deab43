import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { RegistryService } from '../../functions/handlers/models/registry-service';
import { ModelRegistry } from '../../functions/registry/registry';
import { createRegistryTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const version = (v: string): Omit<ModelVersion, 'createdAt' | 'updatedAt'> => ({
  name: 'adder',
  version: v,
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: 'triton', targetModel: 'simple.tar.gz', weight: 100 }],
  status: 'ACTIVE',
});

describe('alias routes kept for a rollback', () => {
  let dynamo: LocalDynamoDb;
  let service: RegistryService;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    const client = localDynamoDb(dynamo.url);
    await createRegistryTable(client, 'registry');
    service = new RegistryService(new ModelRegistry(client, 'registry'), { invalidate: () => undefined }, [
      'triton',
    ]);
    await service.register(version('1'));
    await service.register(version('2'));
  });

  afterAll(async () => {
    await dynamo?.close();
  });

  it('has no earlier routes when the alias is created', async () => {
    const created = await service.putAlias('adder', 'live', { routes: [{ version: '1', weight: 100 }] });
    expect(created.previousRoutes).toBeUndefined();
  });

  it('keeps the routes before each move, and not a write that changes nothing', async () => {
    // Act: a canary share, then the same write again
    const canary = [
      { version: '1', weight: 90 },
      { version: '2', weight: 10 },
    ];
    await service.putAlias('adder', 'live', { routes: canary });
    const repeated = await service.putAlias('adder', 'live', { routes: [...canary].reverse() });
    // Assess
    expect(repeated.previousRoutes).toEqual([{ version: '1', weight: 100 }]);
    const read = (await service.getModel('adder')).aliases.find((a) => a.alias === 'live');
    expect(read?.routes).toEqual([...canary].reverse());
    expect(read?.previousRoutes).toEqual([{ version: '1', weight: 100 }]);
  });

  it('records, under concurrent writes, earlier routes that some serial order of them gives', async () => {
    // Prepare: eight writes of distinct routes at once, on a clock that gives them all one millisecond
    const clock = new RegistryService(
      new ModelRegistry(localDynamoDb(dynamo.url), 'registry'),
      { invalidate: () => undefined },
      ['triton'],
      () => '2026-01-01T00:00:00.000Z',
    );
    await clock.putAlias('adder', 'race', { routes: [{ version: '1', weight: 100 }] });
    const routes = Array.from({ length: 8 }, (_, i) => [
      { version: '1', weight: 90 - i },
      { version: '2', weight: 10 + i },
    ]);
    // Act
    const written = await Promise.all(routes.map((r) => clock.putAlias('adder', 'race', { routes: r })));
    // Assess: each write replaced exactly one state, and the states form one chain from the first
    const key = (r: unknown) => JSON.stringify(r);
    const replaced = written.map((w) => key(w.previousRoutes));
    expect(new Set(replaced).size).toBe(written.length);
    const final = (await clock.getModel('adder')).aliases.find((a) => a.alias === 'race')!;
    expect(new Set([...replaced, key(final.routes)])).toEqual(
      new Set([key([{ version: '1', weight: 100 }]), ...routes.map(key)]),
    );
  });
});
