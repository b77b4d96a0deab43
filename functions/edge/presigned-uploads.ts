/**
 * Presigned uploads into S3, shared by the routes that let a client put a large file straight into
 * a bucket (model archives, batch input files): one presigned PUT up to a size, presigned parts of
 * a multipart upload above it, and the completion of those parts.
 */
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { BadRequestError, ConflictError } from './errors';

export type PresignedUpload =
  | {
      readonly mode: 'single';
      readonly expiresAt: string;
      readonly url: string;
      /** Headers the PUT must carry, as they were signed. */
      readonly headers: Record<string, string>;
    }
  | {
      readonly mode: 'multipart';
      readonly expiresAt: string;
      readonly uploadId: string;
      readonly partSize: number;
      readonly parts: { readonly partNumber: number; readonly url: string }[];
    };

export interface UploadPlan {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  /** The file's size in bytes, as the client states it. */
  readonly size: number;
  /** Up to this size, one PUT; above it, parts of `partBytes`. */
  readonly singlePutMaxBytes: number;
  readonly partBytes: number;
  readonly expiresInSeconds: number;
  /** The file's SHA-256 (hex): S3 then refuses a single PUT of other bytes. */
  readonly sha256?: string;
  /** S3 refuses a single PUT over an existing key (`If-None-Match: *`). */
  readonly ifNoneMatch?: boolean;
  readonly now: Date;
}

export async function presignUpload(plan: UploadPlan): Promise<PresignedUpload> {
  const { client, bucket, key } = plan;
  const expiresAt = new Date(plan.now.getTime() + plan.expiresInSeconds * 1000).toISOString();
  if (plan.size <= plan.singlePutMaxBytes) {
    const checksum =
      plan.sha256 === undefined ? undefined : Buffer.from(plan.sha256, 'hex').toString('base64');
    const url = await getSignedUrl(
      client,
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        ContentLength: plan.size,
        ...(checksum === undefined ? {} : { ChecksumSHA256: checksum }),
        ...(plan.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
      }),
      {
        expiresIn: plan.expiresInSeconds,
        ...(checksum === undefined ? {} : { unhoistableHeaders: new Set(['x-amz-checksum-sha256']) }),
      },
    );
    const headers: Record<string, string> = {
      ...(checksum === undefined ? {} : { 'x-amz-checksum-sha256': checksum }),
      ...(plan.ifNoneMatch ? { 'if-none-match': '*' } : {}),
    };
    return { mode: 'single', expiresAt, url, headers };
  }
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  if (!UploadId) throw new Error('CreateMultipartUpload returned no upload id');
  const count = Math.ceil(plan.size / plan.partBytes);
  const parts = await Promise.all(
    Array.from({ length: count }, async (_, i) => ({
      partNumber: i + 1,
      url: await getSignedUrl(
        client,
        new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1 }),
        { expiresIn: plan.expiresInSeconds },
      ),
    })),
  );
  return { mode: 'multipart', expiresAt, uploadId: UploadId, partSize: plan.partBytes, parts };
}

/**
 * Completes a multipart upload from the parts the client names. A refusal the client caused (an
 * unknown upload, a missing or misordered part, a part under S3's minimum) is a 400; with
 * `ifNoneMatch`, a key already stored is not replaced and false is returned (S3's 412), and a
 * completion that raced another write of the key is a 409.
 */
export async function completeParts(
  target: { readonly client: S3Client; readonly bucket: string; readonly key: string },
  uploadId: string,
  parts: readonly { partNumber: number; etag: string }[],
  options: { readonly ifNoneMatch?: boolean } = {},
): Promise<boolean> {
  try {
    await target.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: target.bucket,
        Key: target.key,
        UploadId: uploadId,
        MultipartUpload: {
          Parts: [...parts]
            .sort((a, b) => a.partNumber - b.partNumber)
            .map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })),
        },
        ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
      }),
    );
    return true;
  } catch (error) {
    if (!(error instanceof S3ServiceException)) throw error;
    if (options.ifNoneMatch && error.$metadata.httpStatusCode === 412) return false;
    // S3 answers a conditional completion that races another write of the key 409
    // ConditionalRequestConflict; the upload has to start again (CompleteMultipartUpload `IfNoneMatch`).
    if (options.ifNoneMatch && error.$metadata.httpStatusCode === 409) {
      throw new ConflictError(
        `another write of this key was in progress; start the upload again (${error.name})`,
      );
    }
    if (['NoSuchUpload', 'InvalidPart', 'InvalidPartOrder', 'EntityTooSmall'].includes(error.name)) {
      throw new BadRequestError(`the multipart upload cannot complete: ${error.name}: ${error.message}`);
    }
    throw error;
  }
}
