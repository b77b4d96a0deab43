/**
 * A caller's input files in the batch data bucket: where they are, under a key derived from the
 * caller's own identity, and what a job records of them. Rules and their sources: docs/batch.md,
 * "Input files in S3".
 */
import { createHash } from 'node:crypto';
import { HeadObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { batchInputKey } from '../../contracts/batch-data';
import { BadRequestError, NotFoundError } from '../edge/errors';
import { parseInput } from '../edge/validation';
import { OwnerSchema } from './api-schemas';
import { type JobInput, MAX_BATCH_INPUT_BYTES } from './input-schemas';
import type { BatchData } from './s3';

/** Where input files are: the batch data bucket. */
export type InputBucket = BatchData;

/**
 * The owner's part of an input's key: a SHA-256 of the subject, which may hold any character. Only
 * the owner's own requests derive it, so no request reaches another owner's files.
 */
export function ownerDigest(owner: string): string {
  return createHash('sha256')
    .update(parseInput(OwnerSchema, owner, 'owner'), 'utf8')
    .digest('hex');
}

/**
 * The caller's input files as a job records them (size and ETag). The keys come from the caller's
 * own digest, never from the request, so an id of another owner's file, or of none, is a 404.
 */
export async function headInputs(
  target: InputBucket,
  owner: string,
  inputIds: readonly string[],
): Promise<(JobInput & { readonly writtenAt: Date })[]> {
  const digest = ownerDigest(owner);
  return Promise.all(
    inputIds.map(async (inputId) => {
      const key = batchInputKey(digest, inputId);
      try {
        const head = await target.s3.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }));
        const size = head.ContentLength ?? 0;
        if (size > MAX_BATCH_INPUT_BYTES) {
          throw new BadRequestError(`input '${inputId}' is larger than ${MAX_BATCH_INPUT_BYTES} bytes`);
        }
        return { inputId, key, size, etag: head.ETag ?? '', writtenAt: head.LastModified ?? new Date(0) };
      } catch (error) {
        if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) {
          throw new NotFoundError(`batch input '${inputId}' is not found (or not yet uploaded)`);
        }
        throw error;
      }
    }),
  );
}
