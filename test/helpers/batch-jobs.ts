/** What the batch integration tests share: circuits that never open, and a job's results read whole. */
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ItemResult } from '../../functions/batch/api-schemas';
import type { BatchApiStore, StallWatch } from '../../functions/batch/batch-store';
import { type ResultManifest, resultManifestKey } from '../../functions/batch/result-parts';

/** Circuit breakers that always admit: the tests that use them are about the batch path, not circuits. */
export const alwaysClosed = {
  admit: async () => ({ kind: 'closed' }) as const,
  recordSuccess: async () => false,
  recordFailure: async () => false,
};

/**
 * Passes a job's chain of stall checks on to a new token, still as `still` says (by default from the
 * job's current `updatedAt`, from now), and returns the check holding it, as the platform sends it.
 */
export async function liveCheck(
  store: BatchApiStore,
  jobId: string,
  still: Partial<Pick<StallWatch, 'updatedAt' | 'since'>> = {},
) {
  const job = (await store.getJobRecord(jobId))!;
  const token = randomUUID();
  const watch = { token, by: 'a test', updatedAt: job.updatedAt, since: Date.now(), ...still };
  if (!(await store.passWatch(jobId, job.watch?.token, watch))) throw new Error(`${jobId}'s watch moved`);
  return { jobId, ...(job.attempt > 0 ? { retry: job.attempt } : {}), watch: { token } };
}

/** Every result of a table job, page by page (`pageSize` results a page). */
export async function allResults(
  store: BatchApiStore,
  jobId: string,
  pageSize: number,
  maxBytes?: number,
  pages: ItemResult[][] = [],
): Promise<ItemResult[]> {
  const items: ItemResult[] = [];
  let nextToken: string | undefined;
  do {
    const page = await store.listResults(jobId, pageSize, nextToken, maxBytes);
    items.push(...page.items);
    pages.push(page.items);
    nextToken = page.nextToken;
  } while (nextToken);
  return items;
}

/** An object's text. */
export async function readObject(s3: S3Client, bucket: string, key: string): Promise<string> {
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return object.Body!.transformToString('utf-8');
}

/** Every line of every part an S3 job's manifest names, in the manifest's order. */
export async function resultLines(s3: S3Client, bucket: string, jobId: string): Promise<ItemResult[]> {
  const manifest = JSON.parse(await readObject(s3, bucket, resultManifestKey(jobId))) as ResultManifest;
  const parts = await Promise.all(manifest.parts.map((part) => readObject(s3, bucket, part.key)));
  return parts.flatMap((text) =>
    text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as ItemResult),
  );
}
