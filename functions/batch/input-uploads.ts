/**
 * Batch input files: a caller uploads a JSONL file straight into the batch data bucket through
 * presigned URLs, under a key derived from its own identity, and then names it in a job. Rules and
 * their sources: docs/batch.md, "Input files in S3".
 */
import { randomUUID } from 'node:crypto';
import { BATCH_INPUT_PART_BYTES, batchInputKey } from '../../contracts/batch-data';
import type * as z from '../../contracts/zod';
import { completeParts, type PresignedUpload, presignUpload } from '../edge/presigned-uploads';
import { headInputs, type InputBucket, ownerDigest } from './input-files';
import {
  BATCH_INPUT_URL_TTL_SECONDS,
  type CompleteInputUploadSchema,
  MAX_BATCH_INPUT_BYTES,
} from './input-schemas';

export type StartedInputUpload = PresignedUpload & { readonly inputId: string; readonly maxBytes: number };

/** A new input file's id and where to put its bytes: one presigned PUT, or presigned parts. */
export async function startInputUpload(
  target: InputBucket,
  owner: string,
  size: number,
  now: Date = new Date(),
): Promise<StartedInputUpload> {
  const inputId = randomUUID();
  const upload = await presignUpload({
    client: target.s3,
    bucket: target.bucket,
    key: batchInputKey(ownerDigest(owner), inputId),
    size,
    singlePutMaxBytes: BATCH_INPUT_PART_BYTES,
    partBytes: BATCH_INPUT_PART_BYTES,
    expiresInSeconds: BATCH_INPUT_URL_TTL_SECONDS,
    // An input, once uploaded, is never replaced: a job reads what it was submitted with.
    ifNoneMatch: true,
    now,
  });
  return { inputId, maxBytes: MAX_BATCH_INPUT_BYTES, ...upload };
}

/** Completes a multipart input upload of the caller's; returns the stored file. */
export async function completeInputUpload(
  target: InputBucket,
  owner: string,
  inputId: string,
  body: z.output<typeof CompleteInputUploadSchema>,
): Promise<{ inputId: string; size: number }> {
  const key = batchInputKey(ownerDigest(owner), inputId);
  await completeParts({ client: target.s3, bucket: target.bucket, key }, body.uploadId, body.parts, {
    ifNoneMatch: true,
  });
  const [input] = await headInputs(target, owner, [inputId]);
  return { inputId, size: input!.size };
}
