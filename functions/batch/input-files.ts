/**
 * A caller's input files in the batch data bucket: where they are, under a key derived from the
 * caller's own identity, and what a job records of them. Rules and their sources: docs/batch.md,
 * "Input files in S3".
 */
import { createHash } from 'node:crypto';
import { HeadObjectCommand, ListObjectsV2Command, S3ServiceException } from '@aws-sdk/client-s3';
import {
  BATCH_INPUT_SUFFIX,
  batchInputKey,
  MAX_JOB_INPUTS,
  ownerInputsPrefix,
} from '../../contracts/batch-data';
import { BadRequestError, NotFoundError } from '../edge/errors';
import { parseInput } from '../edge/validation';
import { OwnerSchema } from './api-schemas';
import { isInputPrefix, type JobInput, MAX_BATCH_INPUT_BYTES } from './input-schemas';
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

/**
 * The input ids a job's entries name, in order: an id as it is, and an id prefix and `*` as every
 * input of the caller's whose id starts with it, in key order (the order S3 lists keys in, UTF-8
 * binary, which for an id's characters is the order of JavaScript's string comparison). Listed under
 * the caller's own digest only; at most MAX_JOB_INPUTS in all.
 */
export async function expandInputs(
  target: InputBucket,
  owner: string,
  entries: readonly string[],
): Promise<string[]> {
  const base = ownerInputsPrefix(ownerDigest(owner));
  const tooMany = () =>
    new BadRequestError(`the inputs name more than ${MAX_JOB_INPUTS} files; a job reads at most that many`);
  const ids: string[] = [];
  for (const entry of entries) {
    if (!isInputPrefix(entry)) {
      ids.push(entry);
      continue;
    }
    const found: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await target.s3.send(
        new ListObjectsV2Command({
          Bucket: target.bucket,
          Prefix: base + entry.slice(0, -1),
          ContinuationToken,
        }),
      );
      for (const { Key = '' } of page.Contents ?? []) {
        if (Key.endsWith(BATCH_INPUT_SUFFIX)) found.push(Key.slice(base.length, -BATCH_INPUT_SUFFIX.length));
      }
      if (ids.length + found.length > MAX_JOB_INPUTS) throw tooMany();
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    if (found.length === 0) {
      throw new NotFoundError(`no batch input of yours has an id starting with '${entry.slice(0, -1)}'`);
    }
    ids.push(...found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  if (ids.length > MAX_JOB_INPUTS) throw tooMany();
  return ids;
}
