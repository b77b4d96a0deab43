import { CompleteMultipartUploadCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { BadRequestError, ConflictError } from '../../functions/edge/errors';
import { completeParts } from '../../functions/edge/presigned-uploads';

const s3 = mockClient(S3Client);
const target = { client: new S3Client({ region: 'us-east-1' }), bucket: 'b', key: 'inputs/o/i.jsonl' };
const parts = [{ partNumber: 1, etag: '"e"' }];
const refusal = (name: string, status: number) =>
  new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

describe('completing a multipart upload', () => {
  afterEach(() => s3.reset());

  it('reports a stored key as not replaced when the completion is conditional (412)', async () => {
    s3.on(CompleteMultipartUploadCommand).rejects(refusal('PreconditionFailed', 412));
    await expect(completeParts(target, 'u', parts, { ifNoneMatch: true })).resolves.toBe(false);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0]!.args[0].input.IfNoneMatch).toBe('*');
  });

  it('answers 409 when S3 saw another write of the key at the same time, not a server error', async () => {
    s3.on(CompleteMultipartUploadCommand).rejects(refusal('ConditionalRequestConflict', 409));
    await expect(completeParts(target, 'u', parts, { ifNoneMatch: true })).rejects.toBeInstanceOf(
      ConflictError,
    );
  });

  it('answers 400 for a refusal the client caused', async () => {
    s3.on(CompleteMultipartUploadCommand).rejects(refusal('InvalidPart', 400));
    await expect(completeParts(target, 'u', parts)).rejects.toBeInstanceOf(BadRequestError);
  });
});
