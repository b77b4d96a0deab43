/**
 * The results route of an S3 job: the manifest's parts, a page at a time, each as a presigned GET.
 * A presigned URL carries the signer's authority, so the batch API's role needs s3:GetObject on the
 * parts, and a link signed with the function's temporary credentials lasts no longer than they do.
 */
import { GetObjectCommand, NoSuchKey } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import * as z from '../../contracts/zod';
import { ConflictError } from '../edge/errors';
import { decodePageToken, encodePageToken } from '../edge/page-token';
import { type BatchJob, TERMINAL_STATUSES } from './api-schemas';
import { type ResultFiles, type ResultManifest, resultManifestKey } from './result-parts';

/**
 * How long a link is valid: well inside a Lambda role session, and long enough to start reading a
 * page of parts. A caller that needs more asks for the page again.
 */
export const RESULT_LINK_SECONDS = 900;

const PartsTokenSchema = z.strictObject({ part: z.number().check(z.int(), z.minimum(0)) });

/** One part as the route answers it: where to GET it, and which items it holds. */
export interface ResultLink {
  readonly url: string;
  readonly chunk: number;
  readonly first: number;
  readonly items: number;
  readonly bytes: number;
}

export interface ResultLinks {
  readonly status: BatchJob['status'];
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly expiresInSeconds: number;
  readonly parts: readonly ResultLink[];
  readonly nextToken?: string;
}

/**
 * `limit` parts of an ended S3 job's manifest from the position a token names, each presigned. A job
 * still running (a retry included) has no final parts yet: 409, as for any action its state forbids.
 */
export async function resultLinks(
  files: ResultFiles,
  job: BatchJob,
  limit: number,
  nextToken?: string,
): Promise<ResultLinks> {
  if (!TERMINAL_STATUSES.includes(job.status)) {
    throw new ConflictError(
      `batch job '${job.jobId}' is ${job.status}; its results are written to S3 and linked once it ends`,
    );
  }
  const manifest = await readManifest(files, job.jobId);
  const from = nextToken ? decodePageToken(PartsTokenSchema, nextToken).part : 0;
  const page = manifest.parts.slice(from, from + limit);
  const parts = await Promise.all(
    page.map(async ({ key, chunk, first, items, bytes }) => ({
      url: await getSignedUrl(files.s3, new GetObjectCommand({ Bucket: files.bucket, Key: key }), {
        expiresIn: RESULT_LINK_SECONDS,
      }),
      chunk,
      first,
      items,
      bytes,
    })),
  );
  const next = from + page.length;
  return {
    status: manifest.status,
    total: manifest.total,
    succeeded: manifest.succeeded,
    failed: manifest.failed,
    cancelled: manifest.cancelled,
    expiresInSeconds: RESULT_LINK_SECONDS,
    parts,
    ...(next < manifest.parts.length ? { nextToken: encodePageToken({ part: next }) } : {}),
  };
}

/** The manifest is written just after the job ends: a reader that comes first is told to come back. */
async function readManifest(files: ResultFiles, jobId: string): Promise<ResultManifest> {
  try {
    const object = await files.s3.send(
      new GetObjectCommand({ Bucket: files.bucket, Key: resultManifestKey(jobId) }),
    );
    return JSON.parse(await object.Body!.transformToString('utf-8')) as ResultManifest;
  } catch (error) {
    if (!(error instanceof NoSuchKey)) throw error;
    throw new ConflictError(
      `batch job '${jobId}' has ended and its results manifest is being written; try again shortly`,
    );
  }
}
