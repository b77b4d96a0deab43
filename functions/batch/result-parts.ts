/**
 * The layout and reading of S3 jobs' results (`resultsTo: 's3'`): one JSONL part per chunk, a line
 * per item in item order, and a manifest of the parts. What only reads them (the results route, a
 * retry finding failed items) imports this file alone, so its bundle holds no write.
 */
import { GetObjectCommand, NoSuchKey } from '@aws-sdk/client-s3';
import { batchResultsPrefix } from '../../contracts/batch-data';
import type { BatchJob, ItemResult } from './api-schemas';
import type { BatchStore, ChunkResult } from './batch-store';
import type { BatchData } from './s3';

/** Where S3 jobs' results are: the batch data bucket. */
export type ResultFiles = BatchData;

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

/** A line of a part: an item's result, and the retry that last took the item on, if one did. */
export type PartLine = ItemResult & { readonly attempt?: number };

/**
 * A chunk's results as JSONL. Each line is built field by field in one order (`index`, `id`, then
 * `outputs`, `error` or `cancelled`, then `attempt`), so the same outcome always gives the same bytes
 * and a redelivered chunk rewrites its part unchanged.
 */
export function encodePart(results: readonly PartLine[]): string {
  return results
    .map((r) => {
      const id = r.id === undefined ? {} : { id: r.id };
      const attempt = r.attempt === undefined ? {} : { attempt: r.attempt };
      if ('outputs' in r) return JSON.stringify({ index: r.index, ...id, outputs: r.outputs, ...attempt });
      if ('error' in r) return JSON.stringify({ index: r.index, ...id, error: r.error, ...attempt });
      return JSON.stringify({ index: r.index, ...id, cancelled: true, ...attempt });
    })
    .map((line) => `${line}\n`)
    .join('');
}

export function decodePart(text: string): PartLine[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as PartLine);
}

/**
 * A chunk's part, with its ETag. A part holds item lines only: its item range, and the retry that
 * wrote it with what that retry recovered, are in the object's metadata.
 */
export async function readPart(
  files: ResultFiles,
  jobId: string,
  chunk: number,
): Promise<ChunkResult | undefined> {
  try {
    const object = await files.s3.send(
      new GetObjectCommand({ Bucket: files.bucket, Key: resultPartKey(jobId, chunk) }),
    );
    const results = decodePart(await object.Body!.transformToString('utf-8'));
    const attempt = object.Metadata?.attempt;
    return {
      chunk,
      results,
      ...(object.ETag === undefined ? {} : { etag: object.ETag }),
      ...(attempt === undefined
        ? {}
        : { attempt: Number(attempt), recovered: Number(object.Metadata?.recovered ?? 0) }),
    };
  } catch (error) {
    if (error instanceof NoSuchKey) return undefined;
    throw error;
  }
}

/** A chunk's recorded result, wherever the job keeps it (a result item, or an S3 part). */
export function readRecordedResult(
  store: BatchStore,
  files: ResultFiles | undefined,
  job: Pick<BatchJob, 'jobId' | 'resultsTo'>,
  chunk: number,
): Promise<ChunkResult | undefined> {
  if (job.resultsTo !== 's3') return store.getResult(job.jobId, chunk);
  return readPart(filesOf(files, job.jobId), job.jobId, chunk);
}

/** The bucket an S3 job needs; a function given none is misconfigured. */
export function filesOf(files: ResultFiles | undefined, jobId: string): ResultFiles {
  if (!files) throw new Error(`batch job '${jobId}' writes its results to S3, and no bucket is configured`);
  return files;
}
