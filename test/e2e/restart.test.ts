import { execFile } from 'node:child_process';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_STORE_PREFIX } from '../../contracts/model-store';
import { platformToken } from '../../local/dev-credentials';
import { MODEL_STORE_BUCKET } from '../../local/platform';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

const CLI = fileURLToPath(new URL('../../bin/inference-platform.mjs', import.meta.url));
const SIMPLE = fileURLToPath(new URL('../../triton-image/model_repository/simple', import.meta.url));
const ROW = Array.from({ length: 16 }, (_, i) => i);
const INFER_BODY = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ROW },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ROW.map(() => 1) },
  ],
});

/** What a restart of `npm start` keeps: everything with a state directory, nothing without one. */
describe('restarting npm start', () => {
  let work: string;
  let platform: PlatformProcess | undefined;
  let token: string;

  const call = async (path: string, init: { method?: string; json?: unknown; body?: string } = {}) => {
    const response = await fetch(`${platform!.apiUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
      ...(init.body === undefined ? {} : { body: init.body }),
    });
    return { status: response.status, body: await response.json() };
  };
  const aliasesOf = async (model: string) =>
    ((await call(`/v1/models/${model}`)).body as { aliases: { alias: string; routes: unknown[] }[] }).aliases;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'restart-'));
    // Minted once, before any platform starts: it must outlive them all.
    token = await platformToken();
  });

  afterEach(async () => {
    await platform?.stop();
    platform = undefined;
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('keeps a pushed version, its archive and a moved alias in the state directory, and tokens keep working', async () => {
    const stateDir = join(work, 'state');
    platform = await startPlatformProcess({}, { stateDir });
    expect(platform.output()).toContain(`State               ${stateDir}`);
    const folder = join(work, 'simple');
    await cp(SIMPLE, folder, { recursive: true });
    await rename(join(folder, '1'), join(folder, '2'));
    const pushed = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [CLI, 'models', 'push', folder],
        { env: { ...process.env, INFERENCE_API_URL: platform!.apiUrl, INFERENCE_API_TOKEN: token } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
      ),
    );
    expect(pushed.stderr).toContain('pushed simple version 2');
    const version = JSON.parse(pushed.stdout) as { status: string; backends: { targetModel: string }[] };
    expect(version.status).toBe('ACTIVE');
    const routes = [
      { version: '1', weight: 90 },
      { version: '2', weight: 10 },
    ];
    expect((await call('/v1/models/simple/aliases/live', { method: 'PUT', json: { routes } })).status).toBe(
      200,
    );
    const aliasesBefore = await aliasesOf('simple');

    await platform.stop();
    platform = await startPlatformProcess({}, { stateDir });

    const kept = await call('/v1/models/simple/versions/2');
    expect(kept.status).toBe(200);
    expect(kept.body).toMatchObject({ status: 'ACTIVE', backends: version.backends });
    expect(await aliasesOf('simple')).toEqual(aliasesBefore);
    expect(aliasesBefore.find((a) => a.alias === 'live')?.routes).toEqual(routes);
    // The shipped version was seeded once, not again over the kept registry.
    expect((await call('/v1/models/simple/versions/1')).body).toMatchObject({ status: 'ACTIVE' });

    const s3 = new S3Client({
      endpoint: platform.s3Url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const archive = await s3.send(
      new HeadObjectCommand({
        Bucket: MODEL_STORE_BUCKET,
        Key: `${MODEL_STORE_PREFIX}${version.backends[0]!.targetModel}`,
      }),
    );
    s3.destroy();
    expect(archive.ContentLength).toBeGreaterThan(0);
    // The endpoint loads the kept archive on first request, as after any restart of an endpoint.
    const inferred = await call('/v2/models/simple/versions/2/infer', { method: 'POST', body: INFER_BODY });
    expect(inferred.status).toBe(200);
    const { outputs } = inferred.body as { outputs: { name: string; data: number[] }[] };
    expect(outputs.find((o) => o.name === 'OUTPUT0')?.data).toEqual(ROW.map((x) => x + 1));
  }, 240_000);

  it('forgets changes made through the API without a state directory', async () => {
    platform = await startPlatformProcess();
    expect(platform.output()).toContain('in memory');
    const put = await call('/v1/models/simple/aliases/forgotten', {
      method: 'PUT',
      json: { routes: [{ version: '1', weight: 100 }] },
    });
    expect(put.status).toBe(200);
    expect((await aliasesOf('simple')).map((a) => a.alias)).toContain('forgotten');

    await platform.stop();
    platform = await startPlatformProcess();

    expect((await aliasesOf('simple')).map((a) => a.alias)).not.toContain('forgotten');
  }, 180_000);
});
