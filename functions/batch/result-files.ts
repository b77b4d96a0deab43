/**
 * Writing S3 jobs' results (layout in `result-parts.ts`): each chunk's part, and the manifest once
 * the job ends. DynamoDB keeps the job and its counters; the part is the chunk's record, as the
 * result item is for a table job, and the worker reads it back before running a chunk so that a
 * redelivery counts what was written.
 */
import { HeadObjectCommand, NotFound, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { type BatchJob, TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, ChunkResult } from './batch-store';
import { mapInFlight } from './in-flight';
import {
  encodePart,
  filesOf,
  type ManifestPart,
  type ResultFiles,
  type ResultManifest,
  readPart,
  resultManifestKey,
  resultPartKey,
} from './result-parts';

/** JSON Lines: no registered media type; this is the one the NDJSON convention names. */
const JSONL = 'application/x-ndjson';
/** Parts headed at once while the manifest is written. */
const HEAD_CONCURRENCY = 16;

/**
 * Where one job's chunk results are recorded, with the store's contract: `get` the recorded result;
 * `put` a first outcome unless one is recorded, returning the recorded one (the winner's); `putRetry`
 * a retry's outcome over `replacing` (the result it was made from, as `get` returned it) once per
 * attempt, returning the one recorded for this attempt, or undefined when a later retry's is.
 * Callers count what these return, never what they computed: two deliveries of one chunk may run at
 * once and get different answers from the model.
 */
export interface ChunkResults {
  get(chunk: number): Promise<ChunkResult | undefined>;
  put(result: ChunkResult): Promise<ChunkResult>;
  putRetry(
    result: ChunkResult & { readonly attempt: number },
    replacing: ChunkResult,
  ): Promise<ChunkResult | undefined>;
}

/** The job's results: result items in the table, or parts in S3 for an S3 job. */
export function chunkResultsOf(
  store: BatchStore,
  files: ResultFiles | undefined,
  job: Pick<BatchJob, 'jobId' | 'resultsTo'>,
): ChunkResults {
  if (job.resultsTo !== 's3') {
    return {
      get: (chunk) => store.getResult(job.jobId, chunk),
      put: (result) => store.putResult(job.jobId, result),
      putRetry: (result) => store.putRetryResult(job.jobId, result),
    };
  }
  const bucket = filesOf(files, job.jobId);
  return {
    get: (chunk) => readPart(bucket, job.jobId, chunk),
    put: (result) => writePart(bucket, job.jobId, result, { IfNoneMatch: '*' }),
    // Only over the part this retry was made from (If-Match its ETag): of the deliveries of one
    // attempt, one writes. Each line the retry took on (the failed ones) names the attempt, so the
    // bytes, and so the ETag, differ from the replaced part's even when nothing was recovered: an
    // ETag that came back would let another delivery of this attempt write over the recorded one.
    // The worker and the dead-letter consumer drop work of an earlier retry before they get here.
    async putRetry(result, replacing) {
      if (replacing.etag === undefined) throw new Error('a retry replaces a part it has read');
      const takenOn = new Set(replacing.results.filter((r) => 'error' in r).map((r) => r.index));
      const results = result.results.map((r) =>
        takenOn.has(r.index) ? { ...r, attempt: result.attempt } : r,
      );
      const recorded = await writePart(
        bucket,
        job.jobId,
        { ...result, results },
        { IfMatch: replacing.etag },
      );
      return recorded.attempt === result.attempt ? recorded : undefined;
    },
  };
}

/**
 * What S3 answers a conditional write that another request got in before (S3 User Guide,
 * conditional writes): 412 when the condition no longer holds, 409 for a conflicting request under
 * way, 404 for an `If-Match` over a key a delete emptied.
 */
const REFUSED = [412, 409, 404];

/**
 * Writes a chunk's part on its condition and returns what is recorded after: this result if it was
 * written, else the part another writer recorded first, read back.
 */
async function writePart(
  files: ResultFiles,
  jobId: string,
  result: ChunkResult,
  condition: { readonly IfNoneMatch: '*' } | { readonly IfMatch: string },
): Promise<ChunkResult> {
  try {
    await files.s3.send(
      new PutObjectCommand({
        Bucket: files.bucket,
        Key: resultPartKey(jobId, result.chunk),
        Body: encodePart(result.results),
        ContentType: JSONL,
        // The item range, for the manifest to read with a HEAD; a chunk has at least one item.
        Metadata: {
          first: String(result.results[0]!.index),
          items: String(result.results.length),
          ...(result.attempt === undefined
            ? {}
            : { attempt: String(result.attempt), recovered: String(result.recovered ?? 0) }),
        },
        ...condition,
      }),
    );
    return result;
  } catch (error) {
    if (!(error instanceof S3ServiceException && REFUSED.includes(error.$metadata.httpStatusCode ?? 0)))
      throw error;
  }
  const recorded = await readPart(files, jobId, result.chunk);
  // Refused, yet no outcome as recent as this one is recorded (a delete got in first, or a 409 went
  // to every writer): nothing is counted, and the delivery fails so that SQS delivers it again.
  if (!recorded || (recorded.attempt ?? 0) < (result.attempt ?? 0)) {
    throw new Error(`batch job '${jobId}': chunk ${result.chunk}'s part was not written, and no other is`);
  }
  return recorded;
}

/**
 * Writes the manifest of an S3 job that has ended: its parts in chunk order, each with its item
 * range and byte size (from a HEAD of the part). Safe to repeat: every caller that sees the job end
 * writes the same manifest, and a retry that ends writes it anew.
 * Does nothing for a table job or one that is still running.
 */
export async function writeManifest(
  files: ResultFiles | undefined,
  job: BatchJob,
): Promise<ResultManifest | undefined> {
  if (job.resultsTo !== 's3' || !TERMINAL_STATUSES.includes(job.status)) return undefined;
  const { jobId } = job;
  const bucket = filesOf(files, jobId);
  const chunks = Array.from({ length: job.chunks }, (_, chunk) => chunk);
  const parts: ManifestPart[] = await mapInFlight(chunks, HEAD_CONCURRENCY, (chunk) =>
    describePart(bucket, jobId, chunk),
  );
  const manifest: ResultManifest = {
    jobId,
    status: job.status,
    total: job.total,
    succeeded: job.succeeded,
    failed: job.failed,
    cancelled: job.cancelled,
    parts,
  };
  await bucket.s3.send(
    new PutObjectCommand({
      Bucket: bucket.bucket,
      Key: resultManifestKey(jobId),
      Body: JSON.stringify(manifest),
      ContentType: 'application/json',
    }),
  );
  return manifest;
}

/**
 * Every chunk of an ended job has its part: each way a job ends (its last chunk counted, a
 * dead-lettered submission, a stall) records every chunk through `ChunkResults` first. A missing
 * part is thrown, so the call is retried rather than a manifest written without it.
 */
async function describePart(files: ResultFiles, jobId: string, chunk: number): Promise<ManifestPart> {
  const key = resultPartKey(jobId, chunk);
  try {
    const head = await files.s3.send(new HeadObjectCommand({ Bucket: files.bucket, Key: key }));
    return {
      key,
      chunk,
      first: Number(head.Metadata?.first),
      items: Number(head.Metadata?.items),
      bytes: head.ContentLength ?? 0,
    };
  } catch (error) {
    if (error instanceof NotFound)
      throw new Error(`batch job '${jobId}' has ended without a part for chunk ${chunk}`);
    throw error;
  }
}
