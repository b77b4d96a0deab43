import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformToken } from '../../local/dev-credentials';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

const CLI = fileURLToPath(new URL('../../bin/inference-platform.mjs', import.meta.url));
const IRIS_CSV = fileURLToPath(new URL('../../triton-image/scripts/data/iris.csv', import.meta.url));
const SPECIES = ['setosa', 'versicolor', 'virginica'];

/** Every third row of Fisher's data: 50 rows covering all three species. */
const rows = readFileSync(IRIS_CSV, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .filter((_, i) => i % 3 === 0)
  .map((line) => {
    const cells = line.split(',');
    return { features: cells.slice(0, 4).map(Number), species: SPECIES.indexOf(cells[4]!) };
  });
const itemsJsonl = rows
  .map((row, i) =>
    JSON.stringify({
      id: `row-${i}`,
      inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: row.features }],
    }),
  )
  .join('\n');

interface Result {
  index: number;
  id?: string;
  outputs?: { name: string; data: number[] }[];
  error?: string;
}

describe('inference-platform CLI against the local platform', () => {
  let platform: PlatformProcess;
  let token: string;
  let dir: string;
  let itemsFile: string;
  /** Realtime answers for the same rows, the classes every batch result must match. */
  let expectedLabels: number[];

  const cli = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args],
        {
          env: {
            ...process.env,
            INFERENCE_API_URL: platform.apiUrl,
            INFERENCE_API_TOKEN: token,
            ...env,
          },
          maxBuffer: 16 * 1024 * 1024,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });

  const expectResultsMatch = (lines: string[]) => {
    expect(lines).toHaveLength(rows.length);
    lines.forEach((line, i) => {
      const result = JSON.parse(line) as Result;
      expect(result).toMatchObject({ index: i, id: `row-${i}` });
      expect(result.outputs?.find((o) => o.name === 'LABEL')?.data).toEqual([expectedLabels[i]]);
    });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-e2e-'));
    itemsFile = join(dir, 'items.jsonl');
    writeFileSync(itemsFile, `${itemsJsonl}\n`);
    platform = await startPlatformProcess();
    token = await platformToken();
  });

  afterAll(async () => {
    await platform?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('infers with inline tensors and with a request file, and lists models', async () => {
    const requestFile = join(dir, 'request.json');
    writeFileSync(
      requestFile,
      JSON.stringify({
        inputs: [
          {
            name: 'FEATURES',
            shape: [rows.length, 4],
            datatype: 'FP32',
            data: rows.flatMap((r) => r.features),
          },
        ],
      }),
    );

    const [inline, fromFile, models] = await Promise.all([
      cli(['infer', 'iris', '--input', 'FEATURES:FP32:1,4:5.1,3.5,1.4,0.2']),
      cli(['infer', 'iris', '--file', requestFile]),
      cli(['models', 'list']),
    ]);

    expect(inline).toMatchObject({ code: 0, stderr: '' });
    const setosa = JSON.parse(inline.stdout);
    expect(setosa.model_name).toBe('iris');
    expect(setosa.outputs.find((o: { name: string }) => o.name === 'LABEL').data).toEqual([0]);

    expect(fromFile.code).toBe(0);
    expectedLabels = JSON.parse(fromFile.stdout).outputs.find(
      (o: { name: string }) => o.name === 'LABEL',
    ).data;
    expect(expectedLabels).toHaveLength(rows.length);
    const correct = expectedLabels.filter((label, i) => label === rows[i]!.species).length;
    expect(correct / rows.length).toBeGreaterThanOrEqual(0.9);

    expect(models.code).toBe(0);
    expect(models.stdout.split('\n')).toEqual(expect.arrayContaining(['iris', 'simple']));
  });

  it('submits a JSONL file over the API, waits, and writes results that match realtime inference', async () => {
    const submitted = await cli([
      'batch',
      'submit',
      'iris',
      '--file',
      itemsFile,
      '--wait',
      '--timeout',
      '40',
    ]);
    expect(submitted.stderr).toContain(`SUCCEEDED: ${rows.length} items`);
    expect(submitted.code).toBe(0);
    const jobId = submitted.stdout.trim();
    expect(jobId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);

    const out = join(dir, 'results.jsonl');
    const [results, status] = await Promise.all([
      cli(['batch', 'results', jobId, '--out', out]),
      cli(['batch', 'status', jobId, '--json']),
    ]);

    expect(results).toMatchObject({ code: 0, stdout: '' });
    expectResultsMatch(readFileSync(out, 'utf8').trim().split('\n'));
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ jobId, status: 'SUCCEEDED', total: rows.length });
  });

  it('submits straight onto the submissions queue, then waits and reads the results', async () => {
    const sqsEnv = {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_SQS: platform.sqsUrl,
      INFERENCE_SUBMISSIONS_QUEUE_URL: platform.submissionsQueueUrl,
    };
    const args = ['batch', 'submit', 'iris', '--file', itemsFile, '--via', 'sqs', '--owner', 'dev'];
    const submitted = await cli([...args, '--job-id', 'cli-e2e-sqs'], sqsEnv);
    expect(submitted).toMatchObject({ code: 0, stdout: 'cli-e2e-sqs\n' });

    const waited = await cli(['batch', 'wait', 'cli-e2e-sqs', '--timeout', '40']);
    expect(waited.stderr).toContain('SUCCEEDED');
    expect(waited.code).toBe(0);

    const results = await cli(['batch', 'results', 'cli-e2e-sqs']);
    expect(results.code).toBe(0);
    expectResultsMatch(results.stdout.trim().split('\n'));
  });

  it('reads an S3-results job through its links, to stdout and to a file, in item order', async () => {
    const response = await fetch(`${platform.apiUrl}/v1/batch-jobs`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({
        model: 'iris',
        results: 's3',
        items: itemsJsonl.split('\n').map((line) => JSON.parse(line)),
      }),
    });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    const waited = await cli(['batch', 'wait', jobId, '--timeout', '40']);
    expect(waited.code).toBe(0);

    const out = join(dir, 's3-results.jsonl');
    const [toStdout, toFile] = await Promise.all([
      cli(['batch', 'results', jobId]),
      cli(['batch', 'results', jobId, '--out', out]),
    ]);
    expect(toStdout.code).toBe(0);
    expect(toStdout.stderr).toContain(`${rows.length} results`);
    const lines = toStdout.stdout.trim().split('\n');
    expect(lines).toHaveLength(rows.length);
    lines.forEach((line, i) => {
      const result = JSON.parse(line) as Result;
      expect(result).toMatchObject({ index: i, id: `row-${i}` });
      expect(result.outputs?.find((o) => o.name === 'LABEL')?.data).toHaveLength(1);
    });
    expect(toFile).toMatchObject({ code: 0, stdout: '' });
    expect(readFileSync(out, 'utf8')).toBe(toStdout.stdout);
  });

  it('exits 1 with the API message for a bad token and 2 for a missing file', async () => {
    const [badToken, missing] = await Promise.all([
      cli(['models', 'list'], { INFERENCE_API_TOKEN: 'not-a-token' }),
      cli(['batch', 'submit', 'iris', '--file', join(dir, 'missing.jsonl')]),
    ]);

    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(
      /HTTP 401 UNAUTHORIZED: missing or invalid bearer token\nX-Request-Id: \S+/,
    );
    expect(badToken.stderr).not.toContain('not-a-token');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read '");
    expect(missing.stderr).toContain('no such file');
  });
});
