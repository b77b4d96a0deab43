import { HeadObjectCommand, NotFound, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { RegistryService } from '../../functions/handlers/models/registry-service';
import { ModelRegistry } from '../../functions/registry/registry';
import { ArchiveRetirement, parseStoreUrl } from '../../functions/registry/retire';
import { createRegistryTable, type LocalDynamoDb, startDynamoDb } from '../../local/aws/dynamodb';
import { type LocalS3, startS3 } from '../../local/aws/s3';
import { localDynamoDb } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

const ENDPOINT = 'triton';
const OTHER_ENDPOINT = 'other-multi-model';
const BUCKET = 'model-store';
/** An archive the deployment copies into the store. */
const SHIPPED = 'adder-5111111111111111.tar.gz';

let sequence = 0;
/** A table of its own per test, so that versions of one test never reference another's archives. */
const nextTable = () => `registry-${++sequence}`;

const version = (
  name: string,
  v: string,
  targetModel: string,
  endpointName = ENDPOINT,
): Omit<ModelVersion, 'createdAt' | 'updatedAt'> => ({
  name,
  version: v,
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName, targetModel, weight: 100 }],
  status: 'ACTIVE',
});

describe('retiring the archives of deleted and disabled versions', () => {
  let dynamo: LocalDynamoDb;
  let s3: LocalS3;
  let service: RegistryService;
  /** Runs before the retirement's next Scan for the versions that name an archive. */
  let beforeScan: (() => Promise<void>) | undefined;
  let errors: { message: string; details: Record<string, unknown> }[];

  const putArchive = (name: string) =>
    s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `models/${name}`, Body: 'archive bytes' }));
  const stored = async (name: string) => {
    try {
      await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `models/${name}` }));
      return true;
    } catch (error) {
      if (error instanceof NotFound) return false;
      throw error;
    }
  };

  beforeAll(async () => {
    dynamo = await startDynamoDb();
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket(BUCKET);
  });

  beforeEach(async () => {
    const client = localDynamoDb(dynamo.url);
    const table = nextTable();
    await createRegistryTable(client, table);
    errors = [];
    beforeScan = undefined;
    // The retirement's own client, so that a test can act between its mark and its Scan.
    const retirementClient = localDynamoDb(dynamo.url);
    retirementClient.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ScanCommand' && beforeScan) {
          const act = beforeScan;
          beforeScan = undefined;
          await act();
        }
        return next(args);
      },
      { step: 'initialize', name: 'beforeScan' },
    );
    const retirement = new ArchiveRetirement(
      retirementClient,
      table,
      s3.client,
      { endpointName: ENDPOINT, ...parseStoreUrl(`s3://${BUCKET}/models/`), shipped: [SHIPPED] },
      0,
      { error: (message, details) => errors.push({ message, details }) },
    );
    service = new RegistryService(
      new ModelRegistry(client, table, retirement),
      { invalidate: () => undefined },
      [ENDPOINT, OTHER_ENDPOINT],
    );
  });

  afterAll(async () => {
    await s3?.close();
    await dynamo?.close();
  });

  it('deletes the archive of a deleted version that no other version names', async () => {
    await putArchive('adder-aaaa.tar.gz');
    await service.register(version('adder', '1', 'adder-aaaa.tar.gz'));

    await service.deleteVersion('adder', '1');

    expect(await stored('adder-aaaa.tar.gz')).toBe(false);
    expect(errors).toEqual([]);
  });

  it('keeps an archive the deployment ships, whose version its seed registers again', async () => {
    await putArchive(SHIPPED);
    await service.register(version('adder', '1', SHIPPED));

    await service.deleteVersion('adder', '1');

    expect(await stored(SHIPPED)).toBe(true);
    await expect(service.register(version('adder', '1', SHIPPED))).resolves.toMatchObject({ version: '1' });
  });

  it('deletes the archive of a disabled version', async () => {
    await putArchive('adder-bbbb.tar.gz');
    await service.register(version('adder', '1', 'adder-bbbb.tar.gz'));

    await service.updateVersion('adder', '1', { status: 'DISABLED' });

    expect(await stored('adder-bbbb.tar.gz')).toBe(false);
  });

  it('keeps an archive that another version of any model still names, until the last one goes', async () => {
    await putArchive('adder-cccc.tar.gz');
    await service.register(version('adder', '1', 'adder-cccc.tar.gz'));
    await service.register(version('adder', '2', 'adder-cccc.tar.gz'));
    await service.register(version('summer', '1', 'adder-cccc.tar.gz'));

    await service.deleteVersion('adder', '1');
    await service.updateVersion('adder', '2', { status: 'DISABLED' });
    expect(await stored('adder-cccc.tar.gz')).toBe(true);

    await service.deleteVersion('summer', '1');
    expect(await stored('adder-cccc.tar.gz')).toBe(false);
  });

  it('counts a disabled version as not needing its archive', async () => {
    await putArchive('adder-dddd.tar.gz');
    await service.register({ ...version('adder', '1', 'adder-dddd.tar.gz'), status: 'DISABLED' });
    await service.register(version('adder', '2', 'adder-dddd.tar.gz'));

    await service.deleteVersion('adder', '2');

    expect(await stored('adder-dddd.tar.gz')).toBe(false);
  });

  it('leaves an archive of the same name alone when the version named it on another endpoint', async () => {
    await putArchive('adder-eeee.tar.gz');
    await service.register(version('adder', '1', 'adder-eeee.tar.gz', OTHER_ENDPOINT));

    await service.deleteVersion('adder', '1');

    expect(await stored('adder-eeee.tar.gz')).toBe(true);
  });

  it('retires nothing while an alias routes to the version, as the delete is refused', async () => {
    await putArchive('adder-ffff.tar.gz');
    await service.register(version('adder', '1', 'adder-ffff.tar.gz'));
    await service.putAlias('adder', 'live', { routes: [{ version: '1', weight: 100 }] });

    await expect(service.deleteVersion('adder', '1')).rejects.toThrow(/alias 'live' routes to it/);

    expect(await stored('adder-ffff.tar.gz')).toBe(true);
  });

  it('is safe to repeat: disabling again after the archive is gone succeeds and deletes nothing else', async () => {
    await putArchive('adder-gggg.tar.gz');
    await service.register(version('adder', '1', 'adder-gggg.tar.gz'));
    await service.updateVersion('adder', '1', { status: 'DISABLED' });

    await expect(service.updateVersion('adder', '1', { status: 'DISABLED' })).resolves.toMatchObject({
      status: 'DISABLED',
    });
    expect(await stored('adder-gggg.tar.gz')).toBe(false);
    expect(errors).toEqual([]);
  });

  it('refuses a registration that names an archive while it is being retired, and removes that version', async () => {
    await putArchive('adder-hhhh.tar.gz');
    await service.register(version('adder', '1', 'adder-hhhh.tar.gz'));
    let refusal: unknown;
    beforeScan = async () => {
      refusal = await service.register(version('adder', '2', 'adder-hhhh.tar.gz')).catch((e: unknown) => e);
    };

    await service.deleteVersion('adder', '1');

    expect(String(refusal)).toMatch(/archive adder-hhhh.tar.gz is being retired/);
    await expect(service.getVersion('adder', '2')).rejects.toThrow(/has no version '2'/);
    expect(await stored('adder-hhhh.tar.gz')).toBe(false);
  });

  it('refuses a version naming a retired archive until the archive is uploaded again', async () => {
    await putArchive('adder-iiii.tar.gz');
    await service.register(version('adder', '1', 'adder-iiii.tar.gz'));
    await service.deleteVersion('adder', '1');

    await expect(service.register(version('adder', '2', 'adder-iiii.tar.gz'))).rejects.toThrow(
      /archive adder-iiii.tar.gz was retired from the model store; upload it again/,
    );
    await putArchive('adder-iiii.tar.gz');
    await expect(service.register(version('adder', '2', 'adder-iiii.tar.gz'))).resolves.toMatchObject({
      version: '2',
    });
    // The archive is back in use: retiring another version that names it keeps it.
    await service.register(version('adder', '3', 'adder-iiii.tar.gz'));
    await service.deleteVersion('adder', '3');
    expect(await stored('adder-iiii.tar.gz')).toBe(true);
  });

  it('keeps a disabled version disabled when it is enabled again after its archive was retired', async () => {
    await putArchive('adder-jjjj.tar.gz');
    await service.register(version('adder', '1', 'adder-jjjj.tar.gz'));
    await service.updateVersion('adder', '1', { status: 'DISABLED' });

    await expect(service.updateVersion('adder', '1', { status: 'ACTIVE' })).rejects.toThrow(/was retired/);

    expect((await service.getVersion('adder', '1')).status).toBe('DISABLED');
  });

  it('waits the registry cache TTL before it deletes, so containers stop routing to the version first', async () => {
    const client = localDynamoDb(dynamo.url);
    const table = nextTable();
    await createRegistryTable(client, table);
    const graceMs = 1_000;
    const slow = new RegistryService(
      new ModelRegistry(
        client,
        table,
        new ArchiveRetirement(
          client,
          table,
          s3.client,
          { endpointName: ENDPOINT, bucket: BUCKET, prefix: 'models/' },
          graceMs,
        ),
      ),
      { invalidate: () => undefined },
      [ENDPOINT],
    );
    await putArchive('adder-llll.tar.gz');
    await slow.register(version('adder', '1', 'adder-llll.tar.gz'));

    const started = Date.now();
    const deleting = slow.deleteVersion('adder', '1');
    await new Promise((resolve) => setTimeout(resolve, graceMs / 4));
    expect(await stored('adder-llll.tar.gz')).toBe(true);
    await deleting;

    expect(Date.now() - started).toBeGreaterThanOrEqual(graceMs);
    expect(await stored('adder-llll.tar.gz')).toBe(false);
  });
});
