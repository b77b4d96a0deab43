import { describe, expect, it } from 'vitest';
import { toJob } from '../../functions/batch/batch-store';

const stored = {
  pk: 'JOB#j',
  sk: 'JOB',
  jobId: 'j',
  owner: 'alice',
  model: 'iris',
  version: '1',
  status: 'RUNNING',
  total: 2048,
  succeeded: 1024,
  failed: 0,
  cancelled: 0,
  chunks: 2,
  resultsTo: 's3',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:01.000Z',
  fingerprint: 'f',
  chunkSet: 'c',
  inputs: [
    { inputId: 'a', key: 'inputs/o/a.jsonl', size: 1000, etag: '"1"' },
    { inputId: 'b', key: 'inputs/o/b.jsonl', size: 500, etag: '"2"' },
  ],
};

describe('a job as the API shows it', () => {
  it('says how far the scan of its input files has read, across the files', () => {
    const job = toJob({ ...stored, scan: { input: 1, offset: 200, line: 7, item: 2048, chunk: 2 } });
    expect(job.inputScan).toEqual({ bytesRead: 1200, bytes: 1500 });
  });

  it('has no scan progress once every line is planned, nor for a job of items', () => {
    expect(toJob(stored)).not.toHaveProperty('inputScan');
    const { inputs: _, ...ofItems } = stored;
    expect(
      toJob({ ...ofItems, scan: { input: 0, offset: 0, line: 1, item: 0, chunk: 0 } }),
    ).not.toHaveProperty('inputScan');
  });

  it('shows none of the bookkeeping: keys, fingerprint, chunk set, inputs, cursor', () => {
    const job = toJob({ ...stored, scan: { input: 0, offset: 10, line: 2, item: 1, chunk: 0 } });
    for (const field of ['pk', 'sk', 'fingerprint', 'chunkSet', 'inputs', 'scan']) {
      expect(job).not.toHaveProperty(field);
    }
  });
});
