import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { ConflictError, NotFoundError } from '../../functions/edge/errors';
import { ModelRegistry } from '../../functions/registry/registry';
import { WarmUpStatus } from '../../functions/registry/warm-up-status';
import { createRegistryTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const archive = 'adder-00000000000000aa.tar.gz';
const version = (v: string): ModelVersion => ({
  name: 'adder',
  version: v,
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: 'mme', targetModel: archive, weight: 100 }],
  status: 'LOADING',
  createdAt: 'then',
  updatedAt: 'then',
});

describe('the end of a warm-up in the registry', () => {
  let dynamo: LocalDynamoDb;
  let registry: ModelRegistry;
  let status: WarmUpStatus;

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    const client = localDynamoDb(dynamo.url);
    await createRegistryTable(client, 'registry');
    registry = new ModelRegistry(client, 'registry');
    status = new WarmUpStatus(client, 'registry');
    for (const v of ['1', '2', '3', '4']) await registry.putVersion(version(v));
  });

  afterAll(async () => {
    await dynamo?.close();
  });

  it('marks a LOADING version ACTIVE once, and not again', async () => {
    // Act
    const first = await status.settle(version('1'), archive, { status: 'ACTIVE' }, 'now');
    const again = await status.settle(version('1'), archive, { status: 'FAILED', reason: 'late' }, 'later');
    // Assess
    expect([first, again]).toEqual([true, false]);
    expect(await status.get('adder', '1')).toMatchObject({ status: 'ACTIVE', updatedAt: 'now' });
  });

  it('records the reason of a FAILED version', async () => {
    // Act
    await status.settle(version('2'), archive, { status: 'FAILED', reason: 'the model rejected it' }, 'now');
    // Assess
    expect(await status.get('adder', '2')).toMatchObject({
      status: 'FAILED',
      statusReason: 'the model rejected it',
    });
  });

  it('leaves a version disabled meanwhile as it is', async () => {
    // Prepare
    await registry.updateVersion('adder', '3', { status: 'DISABLED' }, 'meanwhile');
    // Act
    const disabled = await status.settle(version('3'), archive, { status: 'ACTIVE' }, 'now');
    // Assess
    expect(disabled).toBe(false);
    expect((await status.get('adder', '3'))?.status).toBe('DISABLED');
  });

  it('keeps the backends of a LOADING version until its warm-up settles it, so the warm-up always can', async () => {
    // Prepare
    const moved = [{ endpointName: 'mme', targetModel: 'adder-00000000000000bb.tar.gz', weight: 100 }];
    // Act
    const refused = registry.updateVersion('adder', '4', { backends: moved }, 'meanwhile');
    // Assess
    await expect(refused).rejects.toBeInstanceOf(ConflictError);
    await expect(refused).rejects.toThrow(/is LOADING: its backends can change once its warm-up has settled/);
    expect(await status.settle(version('4'), archive, { status: 'ACTIVE' }, 'now')).toBe(true);
    const updated = await registry.updateVersion('adder', '4', { backends: moved }, 'later');
    expect(updated).toMatchObject({ status: 'ACTIVE', backends: moved });
    // A version that is not there is still a 404, not a conflict.
    await expect(registry.updateVersion('adder', '9', { backends: moved }, 'later')).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});
