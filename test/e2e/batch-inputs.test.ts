import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

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
    token = await platformToken();
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

  it('lets a page on another origin upload an input, under a name, through its presigned URL', async () => {
    const origin = 'https://app.example.com';
    const body = `${JSON.stringify({ inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: features[0] }] })}\n`;
    const started = await fetch(`${platform.apiUrl}/v1/batch-inputs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', origin },
      body: JSON.stringify({ size: Buffer.byteLength(body), name: 'page-upload' }),
    });
    expect(started.status).toBe(200);
    const upload = (await started.json()) as {
      inputId: string;
      url: string;
      headers: Record<string, string>;
    };
    expect(upload.inputId).toBe('page-upload');
    const preflight = await fetch(upload.url, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'PUT',
        'access-control-request-headers': ['content-type', ...Object.keys(upload.headers)].join(','),
      },
    });
    expect([preflight.status, preflight.headers.get('access-control-allow-origin')]).toEqual([200, origin]);
    const put = await fetch(upload.url, {
      method: 'PUT',
      body,
      headers: { ...upload.headers, origin, 'content-type': 'application/x-ndjson' },
    });
    expect([put.status, put.headers.get('access-control-expose-headers')]).toEqual([200, 'ETag']);
  });

  it('runs several files as one job, in the order given, naming the file of a bad line', async () => {
    const row = (i: number) =>
      JSON.stringify({
        id: `part-${i}`,
        inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: features[i % features.length] }],
      });
    // Three files of 40, 1 and 30 lines; the second file's line 1 and the third's line 7 are bad.
    const parts = [
      Array.from({ length: 40 }, (_, i) => row(i)),
      ['{"inputs": ['],
      Array.from({ length: 30 }, (_, i) => (i === 6 ? '{"inputs": "none"}' : row(41 + i))),
    ].map((lines, n) => {
      const path = join(dir, `part-${n + 1}.jsonl`);
      writeFileSync(path, `${lines.join('\n')}\n`);
      return path;
    });
    const submitted = await cli([
      'batch',
      'submit',
      'iris',
      ...parts.flatMap((path) => ['--file', path]),
      '--wait',
      '--timeout',
      '300',
    ]);
    const inputIds = /inputs (\S+), (\S+), (\S+), via s3/.exec(submitted.stderr)?.slice(1);
    expect(inputIds).toHaveLength(3);
    expect(submitted).toMatchObject({
      code: 1,
      stderr: expect.stringContaining(
        'ended COMPLETED_WITH_ERRORS: 69 succeeded, 2 failed, 0 cancelled of 71',
      ),
    });
    const out = join(dir, 'parts-results.jsonl');
    expect(await cli(['batch', 'results', submitted.stdout.trim(), '--out', out])).toMatchObject({ code: 0 });
    const results = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { index: number; id?: string; error?: string });
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 71 }, (_, i) => i));
    expect(results.filter((r) => r.error).map((r) => [r.index, r.error!.split(':')[0]])).toEqual([
      [40, `input ${inputIds![1]}, line 1`],
      [47, `input ${inputIds![2]}, line 7`],
    ]);
    expect(results.filter((r) => !r.error).map((r) => r.id)).toEqual(
      [
        ...Array.from({ length: 40 }, (_, i) => i),
        ...Array.from({ length: 29 }, (_, i) => 41 + (i < 6 ? i : i + 1)),
      ].map((i) => `part-${i}`),
    );
  }, 600_000);

  it('runs the command again under its idempotency key: nothing uploaded twice, the same job; a changed file is refused', async () => {
    const row = (i: number) =>
      JSON.stringify({ inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: features[i] }] });
    const files = [0, 1].map((n) => {
      const path = join(dir, `keyed-${n}.jsonl`);
      writeFileSync(path, `${row(n)}\n${row(n + 2)}\n`);
      return path;
    });
    const submit = () =>
      cli([
        'batch',
        'submit',
        'iris',
        '--via',
        's3',
        '--idempotency-key',
        'keyed-run',
        ...files.flatMap((f) => ['--file', f]),
      ]);
    const first = await submit();
    expect(first).toMatchObject({ code: 0, stderr: expect.stringMatching(/uploading 100%/) });
    const again = await submit();
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(again.stderr.match(/is uploaded already/g)).toHaveLength(2);
    expect(again.stderr).not.toMatch(/uploading/);

    writeFileSync(files[1]!, `${row(3)}\n${row(1)}\n`);
    const changed = await submit();
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/422.*different body/s);
  }, 120_000);
});
