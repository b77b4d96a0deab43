/**
 * Writing S3 jobs' results (layout in `result-parts.ts`): each chunk's part, and the manifest once
 * the job ends. DynamoDB keeps the job and its counters; the part is the chunk's record, as the
 * result item is for a table job, and the worker reads it back before running a chunk so that a
 * redelivery counts what was written.
 */
import { HeadObjectCommand, NotFound, PutObjectCommand } from '@aws-sdk/client-s3';
import { type BatchJob, TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, ChunkResult } from './batch-store';
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
 * Where one job's chunk results are recorded, with the store's contract: `get` the recorded result,
 * `put` a first outcome, `putRetry` a retry's (undefined when a later retry's is recorded).
 */
export interface ChunkResults {
  get(chunk: number): Promise<ChunkResult | undefined>;
  put(result: ChunkResult): Promise<ChunkResult>;
  putRetry(result: ChunkResult & { readonly attempt: number }): Promise<ChunkResult | undefined>;
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
    put: (result) => writePart(bucket, job.jobId, result),
    // The worker and the dead-letter consumer drop work of an earlier retry before they get here.
    putRetry: (result) => writePart(bucket, job.jobId, result),
  };
}

async function writePart<R extends ChunkResult>(files: ResultFiles, jobId: string, result: R): Promise<R> {
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
    }),
  );
  return result;
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
  const parts: ManifestPart[] = [];
  for (let first = 0; first < job.chunks; first += HEAD_CONCURRENCY) {
    const chunks = Array.from(
      { length: Math.min(HEAD_CONCURRENCY, job.chunks - first) },
      (_, i) => first + i,
    );
    parts.push(...(await Promise.all(chunks.map((chunk) => describePart(bucket, jobId, chunk)))));
  }
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
