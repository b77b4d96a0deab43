/**
 * The batch data bucket's layout, which the stack, the batch functions and the local platform share:
 * input files callers upload, and the results the workers write. Every key of a job sits under a
 * prefix of its own, so deleting a job's data is one listing, and lifecycle rules expire each kind
 * by prefix.
 */

/** Input files (JSONL, one item per line) uploaded before a job names them. */
export const BATCH_INPUTS_PREFIX = 'inputs/';
/** Results (JSONL parts and their manifest), one prefix per job. */
export const BATCH_RESULTS_PREFIX = 'results/';

/**
 * An uploaded input file: under its owner's digest (never the raw subject, which may hold any
 * character), so a job can only name inputs its own owner uploaded.
 */
export const batchInputKey = (ownerDigest: string, inputId: string) =>
  `${BATCH_INPUTS_PREFIX}${ownerDigest}/${inputId}.jsonl`;

/** Everything a job writes: its result parts and manifest. */
export const batchResultsPrefix = (jobId: string) => `${BATCH_RESULTS_PREFIX}${jobId}/`;
