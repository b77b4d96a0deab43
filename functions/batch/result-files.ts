/**
 * Results of S3 jobs (`resultsTo: 's3'`): one JSONL object per chunk, a line per item in item
 * order, and a manifest of the parts once the job ends. DynamoDB keeps the job and its counters;
 * the part is the chunk's record, as the result item is for a table job, and the worker reads it
 * back before running a chunk so that a redelivery counts what was written.
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { batchResultsPrefix } from '../../contracts/batch-data';
import { type BatchJob, type ItemResult, TERMINAL_STATUSES } from './api-schemas';
import type { BatchStore, ChunkResult } from './batch-store';

/** The batch data bucket, through the batch functions' one S3 client. */
export interface ResultFiles {
  readonly s3: S3Client;
  readonly bucket: string;
}

/** JSON Lines: no registered media type; this is the one the NDJSON convention names. */
const JSONL = 'application/x-ndjson';
/** Parts headed at once while the manifest is written. */
const HEAD_CONCURRENCY = 16;

/** Zero-padded, so a listing of the job's prefix shows the parts in item order. */
export const resultPartKey = (jobId: string, chunk: number) =>
  `${batchResultsPrefix(jobId)}part-${String(chunk).padStart(6, '0')}.jsonl`;
export const resultManifestKey = (jobId: string) => `${batchResultsPrefix(jobId)}manifest.json`;

/** One part in the manifest: the chunk's items `first` .. `first + items - 1`. */
export interface ManifestPart {
  readonly key: string;
  readonly chunk: number;
  readonly first: number;
  readonly items: number;
  readonly bytes: number;
}

/** `results/<jobId>/manifest.json`: the job's parts in item order, with the job's final counts. */
export interface ResultManifest {
  readonly jobId: string;
  readonly status: BatchJob['status'];
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly parts: readonly ManifestPart[];
}

/**
 * A chunk's results as JSONL. Each line is built field by field in one order (`index`, `id`, then
 * `outputs`, `error` or `cancelled`), so the same outcome always gives the same bytes and a
 * redelivered chunk rewrites its part unchanged.
 */
export function encodePart(results: readonly ItemResult[]): string {
  return results
    .map((r) => {
      const id = r.id === undefined ? {} : { id: r.id };
      if ('outputs' in r) return JSON.stringify({ index: r.index, ...id, outputs: r.outputs });
      if ('error' in r) return JSON.stringify({ index: r.index, ...id, error: r.error });
      return JSON.stringify({ index: r.index, ...id, cancelled: true });
    })
    .map((line) => `${line}\n`)
    .join('');
}

export function decodePart(text: string): ItemResult[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ItemResult);
}

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
  if (!files)
    throw new Error(`batch job '${job.jobId}' writes its results to S3, and no bucket is configured`);
  return {
    get: (chunk) => readPart(files, job.jobId, chunk),
    put: (result) => writePart(files, job.jobId, result),
    // The worker and the dead-letter consumer drop work of an earlier retry before they get here.
    putRetry: (result) => writePart(files, job.jobId, result),
  };
}

/**
 * A chunk's part. A part holds item lines only: its item range, and the retry that wrote it with
 * what that retry recovered, are in the object's metadata.
 */
async function readPart(files: ResultFiles, jobId: string, chunk: number): Promise<ChunkResult | undefined> {
  try {
    const object = await files.s3.send(
      new GetObjectCommand({ Bucket: files.bucket, Key: resultPartKey(jobId, chunk) }),
    );
    const results = decodePart(await object.Body!.transformToString('utf-8'));
    const attempt = object.Metadata?.attempt;
    return {
      chunk,
      results,
      ...(attempt === undefined
        ? {}
        : { attempt: Number(attempt), recovered: Number(object.Metadata?.recovered ?? 0) }),
    };
  } catch (error) {
    if (error instanceof NoSuchKey) return undefined;
    throw error;
  }
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
 * range and byte size (from a HEAD of the part). Safe to repeat: every
 * caller that sees the job end writes the same manifest, and a retry that ends writes it anew.
 * Does nothing for a table job or one that is still running.
 */
export async function writeManifest(
  store: BatchStore,
  files: ResultFiles | undefined,
  jobId: string,
): Promise<ResultManifest | undefined> {
  const job = await store.getJobRecord(jobId);
  if (job?.resultsTo !== 's3' || !TERMINAL_STATUSES.includes(job.status)) return undefined;
  if (!files) throw new Error(`batch job '${jobId}' writes its results to S3, and no bucket is configured`);
  const parts: ManifestPart[] = [];
  for (let first = 0; first < job.chunks; first += HEAD_CONCURRENCY) {
    const chunks = Array.from(
      { length: Math.min(HEAD_CONCURRENCY, job.chunks - first) },
      (_, i) => first + i,
    );
    parts.push(...(await Promise.all(chunks.map((chunk) => describePart(files, jobId, chunk)))));
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
  await files.s3.send(
    new PutObjectCommand({
      Bucket: files.bucket,
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
