import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchStore } from '../../functions/batch/batch-store';
import { chunkResultsOf } from '../../functions/batch/result-files';
import { encodePart } from '../../functions/batch/result-parts';

const s3 = mockClient(S3Client);
const parts = chunkResultsOf(
  {} as BatchStore,
  { s3: new S3Client({ region: 'us-east-1' }), bucket: 'b' },
  {
    jobId: 'j',
    resultsTo: 's3',
  },
);
const conflict = new S3ServiceException({
  name: 'ConditionalRequestConflict',
  $fault: 'client',
  $metadata: { httpStatusCode: 409 },
  message: 'conflict',
});
const failed = { chunk: 0, results: [{ index: 0, error: 'refused' }], etag: '"e0"' };
const succeeded = [{ index: 0, outputs: [1] }];
/** GetObject answers the part as `lines`, written by retry `attempt` if given. */
const stored = (lines: readonly object[], attempt?: number) =>
  s3.on(GetObjectCommand).resolves({
    ETag: '"e1"',
    Body: { transformToString: async () => encodePart(lines as never) } as never,
    Metadata: attempt === undefined ? {} : { attempt: String(attempt), recovered: '1' },
  });

/** S3 may answer the loser of a racing conditional write 409 rather than 412 (PutObject, IfNoneMatch/IfMatch). */
describe('S3 parts refused 409 ConditionalRequestConflict', () => {
  afterEach(() => s3.reset());

  it('returns the first outcome another delivery recorded', async () => {
    s3.on(PutObjectCommand).rejects(conflict);
    stored(succeeded);
    await expect(parts.put(failed)).resolves.toMatchObject({ chunk: 0, results: succeeded });
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input.IfNoneMatch).toBe('*');
  });

  it("returns a retry's outcome another delivery of the attempt recorded, and fails when none is", async () => {
    s3.on(PutObjectCommand).rejects(conflict);
    stored(succeeded, 1);
    const retry = { chunk: 0, results: succeeded, attempt: 1, recovered: 1 };
    await expect(parts.putRetry(retry, failed)).resolves.toMatchObject({ attempt: 1, results: succeeded });
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input.IfMatch).toBe('"e0"');
    // Still the part the retry was made from: nothing is recorded for the attempt, so nothing is counted.
    stored(failed.results);
    await expect(parts.putRetry(retry, failed)).rejects.toThrow(/not written/);
  });
});
