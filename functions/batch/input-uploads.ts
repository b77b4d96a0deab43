/**
 * Batch input files: a caller uploads a JSONL file straight into the batch data bucket through
 * presigned URLs, under a key derived from its own identity, and then names it in a job. Rules and
 * their sources: docs/batch.md, "Input files in S3".
 */
import { randomUUID } from 'node:crypto';
import { BATCH_INPUT_PART_BYTES, batchInputKey } from '../../contracts/batch-data';
import type * as z from '../../contracts/zod';
import { BadRequestError, NotFoundError } from '../edge/errors';
import { completeParts, type PresignedUpload, presignUpload } from '../edge/presigned-uploads';
import { keyDigest } from './fingerprint';
import { headInputs, type InputBucket, ownerDigest } from './input-files';
import {
  BATCH_INPUT_URL_TTL_SECONDS,
  type CompleteInputUploadSchema,
  MAX_BATCH_INPUT_BYTES,
} from './input-schemas';
import { IdempotencyKeyReusedError } from './submission';

export type StartedInputUpload = (
  | PresignedUpload
  /** The input an idempotency key or a name names is uploaded already: name it in a job as it is. */
  | { readonly mode: 'stored'; readonly size: number }
) & { readonly inputId: string; readonly maxBytes: number };

/**
 * A new input file's id and where to put its bytes: one presigned PUT, or presigned parts. With an
 * idempotency key the id derives from the caller and the key, and with a name it is the name, so a
 * retried start (or a client run again) names the same input; once that input is stored the answer
 * says so instead of presigning an upload S3 would refuse (`If-None-Match`).
 */
export async function startInputUpload(
  target: InputBucket,
  owner: string,
  size: number,
  options: { readonly idempotencyKey?: string; readonly name?: string; readonly now?: Date } = {},
): Promise<StartedInputUpload> {
  const { idempotencyKey, name, now = new Date() } = options;
  if (idempotencyKey !== undefined && name !== undefined) {
    throw new BadRequestError('give an input a name or an Idempotency-Key, not both: either one names it');
  }
  const inputId = name ?? (idempotencyKey === undefined ? randomUUID() : keyedInputId(owner, idempotencyKey));
  if (name !== undefined || idempotencyKey !== undefined) {
    const stored = await storedSize(target, owner, inputId);
    if (stored === size) return { inputId, mode: 'stored', size, maxBytes: MAX_BATCH_INPUT_BYTES };
    if (stored !== undefined) {
      throw new IdempotencyKeyReusedError(
        `input '${inputId}' was uploaded with ${stored} bytes, not ${size}; ${name === undefined ? 'an idempotency key' : 'a name'} can ` +
          'only be reused for the same file',
      );
    }
  }
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

/**
 * The input id an idempotency key names: the key's digest as a UUID of version 8 (RFC 9562,
 * section 5.8: name-based with SHA-256, as its appendix B.2 shows), so it is an input id like the
 * random (version 4) ones, and never one of them.
 */
export function keyedInputId(owner: string, idempotencyKey: string): string {
  const bytes = keyDigest(owner, idempotencyKey).subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The size of the caller's input `inputId` if it is stored. */
async function storedSize(target: InputBucket, owner: string, inputId: string): Promise<number | undefined> {
  try {
    const [input] = await headInputs(target, owner, [inputId]);
    return input!.size;
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
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
