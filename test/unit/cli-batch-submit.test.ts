import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_USAGE } from '../../cli/errors';
import { runWith } from '../helpers/cli-run';

const dir = mkdtempSync(path.join(tmpdir(), 'cli-submit-'));
const file = (name: string, text: string) => {
  const at = path.join(dir, name);
  writeFileSync(at, text);
  return at;
};
const good = file(
  'good.jsonl',
  '{"inputs":[{"name":"FEATURES","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}\n',
);

describe('batch submit refuses what it cannot send before it sends anything', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['a directory', ['--file', dir], /cannot read '.*': not a file/],
    ['an empty file', ['--file', file('empty.jsonl', '')], /is empty: no items/],
    ['a directory after a good file', ['--file', good, '--file', dir], /cannot read '.*': not a file/],
    [
      'a bad idempotency key',
      ['--file', good, '--idempotency-key', 'bad key é'],
      /--idempotency-key must be/,
    ],
  ])('over S3: %s is a usage error, and nothing is uploaded', async (_, flags, message) => {
    const result = await runWith(['batch', 'submit', 'iris', '--via', 's3', ...flags]);
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.calls).toEqual([]);
  });
});

describe('batch submit --input', () => {
  it('submits a job of inputs uploaded already, by id, name or prefix, in the order given', async () => {
    const result = await runWith(
      ['batch', 'submit', 'iris', '--input', 'sales-2026-*', '--input', 'extra'],
      [{ status: 202, body: { jobId: 'j-1', status: 'QUEUED' } }],
    );
    expect(result.code).toBe(0);
    expect(result.calls).toEqual([
      { method: 'POST', path: '/v1/batch-jobs', body: { model: 'iris', inputs: ['sales-2026-*', 'extra'] } },
    ]);
    expect(result.stdout).toBe('j-1\n');
  });

  it.each([
    ['with --file', ['--input', 'a', '--file', good], /--file or --input, not both/],
    ['over the API', ['--input', 'a', '--via', 'api'], /go --via s3/],
  ])('refuses --input %s before sending anything', async (_, flags, message) => {
    const result = await runWith(['batch', 'submit', 'iris', ...flags]);
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stderr).toMatch(message);
    expect(result.calls).toEqual([]);
  });
});
