import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npmToken, type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

const CLI = fileURLToPath(new URL('../../bin/inference-platform.mjs', import.meta.url));
const IRIS_CSV = fileURLToPath(new URL('../../triton-image/scripts/data/iris.csv', import.meta.url));
const ITEMS = 100_000;

/** Fisher's rows, over and over, as one JSONL line per item. */
const features = readFileSync(IRIS_CSV, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => line.split(',').slice(0, 4).map(Number));

describe('a batch job of an uploaded input file on the local platform', () => {
  let platform: PlatformProcess;
  let token: string;
  let dir: string;
  let itemsFile: string;

  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args],
        {
          env: { ...process.env, INFERENCE_API_URL: platform.apiUrl, INFERENCE_API_TOKEN: token },
          maxBuffer: 64 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'batch-inputs-e2e-'));
    itemsFile = join(dir, 'iris.jsonl');
    const lines = Array.from({ length: ITEMS }, (_, i) =>
      JSON.stringify({
        id: `row-${i}`,
        inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: features[i % features.length] }],
      }),
    );
    writeFileSync(itemsFile, `${lines.join('\n')}\n`);
    platform = await startPlatformProcess();
    token = await npmToken();
  });

  afterAll(async () => {
    await platform?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('uploads a file over the body limit through the CLI and counts every item once', async () => {
    // Over one HTTPS body: the CLI uploads it in parts rather than sending its items.
    expect(statSync(itemsFile).size).toBeGreaterThan(6 * 1024 * 1024);
    const submitted = await cli([
      'batch',
      'submit',
      'iris',
      '--file',
      itemsFile,
      '--wait',
      '--timeout',
      '600',
    ]);
    expect(submitted.stderr).toMatch(/uploading 100%/);
    expect(submitted.stderr).toMatch(/via s3/);
    const jobId = submitted.stdout.trim();
    const out = join(dir, 'results.jsonl');
    expect(await cli(['batch', 'results', jobId, '--out', out])).toMatchObject({ code: 0 });
    const results = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { index: number; id: string; outputs?: unknown[]; error?: string });
    expect(results.find((r) => r.error !== undefined)).toBeUndefined();
    expect(submitted.stderr).toContain(`SUCCEEDED: ${ITEMS} items`);
    expect(submitted.code).toBe(0);

    const status = await cli(['batch', 'status', jobId, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({
      status: 'SUCCEEDED',
      total: ITEMS,
      succeeded: ITEMS,
      failed: 0,
      cancelled: 0,
    });
    expect(results).toHaveLength(ITEMS);
    results.forEach((result, i) => {
      expect(result.index).toBe(i);
      expect(result.id).toBe(`row-${i}`);
      expect(result.outputs).toBeDefined();
    });
  }, 900_000);
});
