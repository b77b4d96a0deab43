import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npmToken, type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

const CLI = fileURLToPath(new URL('../../bin/inference-platform.mjs', import.meta.url));
const SIMPLE = fileURLToPath(new URL('../../triton-image/model_repository/simple', import.meta.url));

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

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'model-push-'));
    platform = await startPlatformProcess();
    token = await npmToken();
  });

  afterAll(async () => {
    await platform?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pushes version 2 of simple, which then answers inference by its version number', async () => {
    const folder = await modelFolder('simple', '2');
    const pushed = await cli(['models', 'push', folder]);
    expect(pushed.stderr).toContain('pushed simple version 2');
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
