/** What a principal may read of batch jobs, and cancelling one. */
import { ConflictError, NotFoundError } from '../edge/errors';
import type { Page } from '../edge/page-token';
import type { Principal } from '../edge/principal';
import { type BatchJob, type ItemResult, TERMINAL_STATUSES } from './api-schemas';
import type { BatchApiStore, BatchStore } from './batch-store';
import { type ResultLinks, resultLinks } from './result-links';
import type { ResultFiles } from './result-parts';

/** A job the principal may see: its own, or any with `admin`; anything else does not exist for them. */
export async function readJob(store: BatchStore, principal: Principal, jobId: string): Promise<BatchJob> {
  const job = await store.getJob(jobId);
  if (!job || (job.owner !== principal.sub && !principal.scopes.includes('admin'))) {
    throw new NotFoundError(`batch job '${jobId}' is not found`);
  }
  return job;
}

/** The principal's own jobs, newest first. */
export async function listJobs(
  store: BatchApiStore,
  principal: Principal,
  limit: number,
  nextToken?: string,
): Promise<Page<BatchJob>> {
  return store.listJobs(principal.sub, limit, nextToken);
}

/**
 * A visible job's results as the results route answers them: a table job's items, or an S3 job's
 * parts as presigned links.
 */
export async function readResults(
  deps: { readonly store: BatchApiStore; readonly resultFiles: ResultFiles },
  principal: Principal,
  jobId: string,
  query: { readonly limit: number; readonly nextToken?: string },
): Promise<{ results: ItemResult[]; nextToken?: string } | ResultLinks> {
  const job = await readJob(deps.store, principal, jobId);
  if (job.resultsTo === 's3') return resultLinks(deps.resultFiles, job, query.limit, query.nextToken);
  const page = await deps.store.listResults(jobId, query.limit, query.nextToken);
  return { results: page.items, ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
}

/**
 * Stops a job's unstarted chunks (they end cancelled), so an accepted cancel always ends the job
 * CANCELLED. A finished job, or one whose chunks have all started, has nothing left to stop.
 */
export async function cancelJob(store: BatchStore, principal: Principal, jobId: string): Promise<BatchJob> {
  const job = await readJob(store, principal, jobId);
  if (!(await store.requestCancel(jobId))) {
    const now = (await store.getJob(jobId)) ?? job;
    throw new ConflictError(
      TERMINAL_STATUSES.includes(now.status)
        ? `batch job '${jobId}' is ${now.status} and can no longer be cancelled`
        : `batch job '${jobId}' has started all its chunks; there is nothing left to cancel`,
    );
  }
  return (await store.getJob(jobId)) ?? job;
}
