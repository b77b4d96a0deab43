import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeadObjectCommand, NotFound, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { MODEL_STORE_BUCKET } from '../../local/platform';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

const CLI = fileURLToPath(new URL('../../bin/inference-platform.mjs', import.meta.url));
const SIMPLE = fileURLToPath(new URL('../../triton-image/model_repository/simple', import.meta.url));

const ones = Array.from({ length: 16 }, () => 1);
const SIMPLE_REQUEST = {
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ones },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ones },
  ],
};
type Version = { backends: { targetModel: string }[] };

/** `models push` on `npm start`: a new version of a shipped model, checked, registered and served. */
describe('pushing a model version to the local platform', () => {
  let platform: PlatformProcess;
  let token: string;
  let dir: string;

  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args],
        { env: { ...process.env, INFERENCE_API_URL: platform.apiUrl, INFERENCE_API_TOKEN: token } },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });

  /** The shipped `simple` folder with its model as version `version`, its config edited. */
  const modelFolder = async (folder: string, version: string, edit = (config: string) => config) => {
    const target = join(dir, folder);
    await cp(SIMPLE, target, { recursive: true });
    if (version !== '1') await rename(join(target, '1'), join(target, version));
    const config = await readFile(join(target, 'config.pbtxt'), 'utf8');
    await writeFile(join(target, 'config.pbtxt'), edit(config));
    return target;
  };

  /** Which version of the alias answered a request with this id. */
  const inferAlias = async (alias: string, requestId: string) => {
    const response = await fetch(`${platform.apiUrl}/v2/models/simple/versions/${alias}/infer`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        'X-Request-Id': requestId,
      },
      body: JSON.stringify(SIMPLE_REQUEST),
    });
    expect(response.status).toBe(200);
    return response.headers.get('x-model-version') ?? '';
  };
  const stored = async (archive: string) => {
    const s3 = new S3Client({
      endpoint: platform.s3Url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    try {
      await s3.send(new HeadObjectCommand({ Bucket: MODEL_STORE_BUCKET, Key: `models/${archive}` }));
      return true;
    } catch (error) {
      if (error instanceof NotFound) return false;
      throw error;
    } finally {
      s3.destroy();
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'model-push-'));
    platform = await startPlatformProcess();
    token = await platformToken();
  });

  afterAll(async () => {
    await platform?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pushes version 2 of simple, which goes LOADING then ACTIVE and answers inference by its version number', async () => {
    const folder = await modelFolder('simple', '2');
    const pushed = await cli(['models', 'push', folder]);
    expect(pushed.stderr).toMatch(/pushed simple version 2 \(simple-[0-9a-f]{16}\.tar\.gz\): LOADING\n/);
    expect(pushed.stderr).toContain('simple version 2: ACTIVE\n');
    expect(pushed.code).toBe(0);
    const version = JSON.parse(pushed.stdout);
    expect(version).toMatchObject({ name: 'simple', version: '2', status: 'ACTIVE' });
    expect(version.backends[0].targetModel).toMatch(/^simple-[0-9a-f]{16}\.tar\.gz$/);

    const row = Array.from({ length: 16 }, (_, i) => i);
    const inferred = await cli([
      'infer',
      'simple',
      '--version',
      '2',
      '--input',
      `INPUT0:INT32:1,16:${row.join(',')}`,
      '--input',
      `INPUT1:INT32:1,16:${row.map(() => 1).join(',')}`,
    ]);
    expect(inferred.code).toBe(0);
    const outputs = JSON.parse(inferred.stdout).outputs as { name: string; data: number[] }[];
    expect(outputs.find((o) => o.name === 'OUTPUT0')?.data).toEqual(row.map((x) => x + 1));

    // The same folder again: the archive is stored, the version exists.
    const again = await cli(['models', 'push', folder]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('409');
  });

  it('sends version 2 a 10 % share of an alias, rolls it back, and deletes it with its archive', async () => {
    // Prepare: an alias wholly on version 1, then 10 % of it to version 2
    expect((await cli(['models', 'promote', 'simple', '1', '--alias', 'trial'])).code).toBe(0);
    const promoted = await cli(['models', 'promote', 'simple', '2', '--alias', 'trial', '--weight', '10']);
    expect(promoted.stderr).toContain('simple trial: version 1 90 %, version 2 10 %');
    const archive = (JSON.parse((await cli(['models', 'get', 'simple', '--version', '2'])).stdout) as Version)
      .backends[0]!.targetModel;

    // Act: requests with different ids (the routing key) until both versions have answered; the
    // inference function's registry cache sees the new share within its TTL (5 s)
    const answered = new Set<string>();
    const until = Date.now() + 30_000;
    for (let i = 0; Date.now() < until && answered.size < 2; i++) {
      answered.add(await inferAlias('trial', `share-${i}`));
    }
    // Assess
    expect([...answered].sort()).toEqual(['1', '2']);

    // Act: the rollback puts the alias back on version 1 alone; version 2 is then deleted
    const rolledBack = await cli(['models', 'rollback', 'simple', '--alias', 'trial']);
    expect(rolledBack.stderr).toContain('simple trial: back to version 1 100 %');
    const deleted = await cli(['models', 'delete', 'simple', '2']);
    // Assess: its archive is gone from the model store
    expect(deleted.code).toBe(0);
    expect(await stored(archive)).toBe(false);
  });

  it('ends a version whose model the local server cannot run FAILED with its message, and routes nothing to it', async () => {
    // Prepare: a PyTorch model, which Triton runs on the deployed endpoint and the local server does not
    const folder = await modelFolder('torch', '3', (config) =>
      config
        .replace('name: "simple"', 'name: "torch"')
        .replace('platform: "onnxruntime_onnx"', 'platform: "pytorch_libtorch"'),
    );
    await rename(join(folder, '3', 'model.onnx'), join(folder, '3', 'model.pt'));
    // Act
    const pushed = await cli(['models', 'push', folder, '--name', 'simple']);
    // Assess
    expect(pushed.code).toBe(1);
    expect(pushed.stderr).toContain('simple version 3: FAILED');
    expect(pushed.stderr).toMatch(/FAILED its warm-up: .*runs only on the deployed Triton endpoint/);
    const inferred = await fetch(`${platform.apiUrl}/v2/models/simple/versions/3/infer`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(SIMPLE_REQUEST),
    });
    expect(inferred.status).toBe(409);
    const ready = await fetch(`${platform.apiUrl}/v2/models/simple/versions/3/ready`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(ready.status).toBe(400);
    const promoted = await cli(['models', 'promote', 'simple', '3', '--alias', 'trial', '--weight', '10']);
    expect(promoted.code).toBe(1);
    expect(promoted.stderr).toContain('it is FAILED, not ACTIVE');
  });

  it('refuses with a 400 naming the tensor an archive whose config disagrees with its model', async () => {
    const folder = await modelFolder('mismatch', '1', (config) =>
      config
        .replace('name: "simple"', 'name: "mismatch"')
        .replace(
          'name: "INPUT1"\n    data_type: TYPE_INT32\n    dims: [ 16 ]',
          'name: "INPUT1"\n    data_type: TYPE_INT32\n    dims: [ 8 ]',
        ),
    );
    const pushed = await cli(['models', 'push', folder, '--name', 'simple-mismatch']);
    expect(pushed.code).toBe(1);
    expect(pushed.stderr).toContain('400');
    expect(pushed.stderr).toContain("input 'INPUT1'");
  });
});
