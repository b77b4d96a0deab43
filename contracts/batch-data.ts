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
  `${ownerInputsPrefix(ownerDigest)}${inputId}${BATCH_INPUT_SUFFIX}`;

/** Where an owner's input files are: their keys are this prefix, the input id and the suffix. */
export const ownerInputsPrefix = (ownerDigest: string) => `${BATCH_INPUTS_PREFIX}${ownerDigest}/`;
export const BATCH_INPUT_SUFFIX = '.jsonl';

/** A lifecycle rule of the batch data bucket, in the terms of its `LifecycleConfiguration`. */
export interface BatchDataLifecycleRule {
  readonly id: string;
  /** The rule applies to keys under this prefix ('' for the whole bucket). */
  readonly prefix: string;
  /** Objects under `prefix` expire this many days after they were written. */
  readonly expirationDays?: number;
  /** Incomplete multipart uploads are aborted this many days after they began. */
  readonly abortIncompleteMultipartUploadDays?: number;
}

/**
 * The lifecycle of batch data, which the stack's bucket and the local platform's sweeper both apply:
 * input files and results expire two retentions after they were written, and the parts of an
 * upload never completed are aborted after a day. S3 counts from an object's creation, not from
 * its job's end: a job ends within one retention of its submission and is kept one retention
 * after, so a result written as it ran must outlive its job by two; a job may name an input only
 * within one retention of its upload (docs/batch.md, "Retention").
 */
export const batchDataLifecycleRules = (retentionDays: number): BatchDataLifecycleRule[] => [
  { id: 'ExpireInputs', prefix: BATCH_INPUTS_PREFIX, expirationDays: 2 * retentionDays },
  { id: 'ExpireResults', prefix: BATCH_RESULTS_PREFIX, expirationDays: 2 * retentionDays },
  { id: 'AbortIncompleteUploads', prefix: '', abortIncompleteMultipartUploadDays: 1 },
];

/** Everything a job writes: its result parts and manifest. */
export const batchResultsPrefix = (jobId: string) => `${BATCH_RESULTS_PREFIX}${jobId}/`;

const MiB = 1024 * 1024;

/**
 * The largest input file an upload takes: 2 GiB holds 10 million iris items (about 110 bytes a
 * line) with room to spare, in 256 parts of `BATCH_INPUT_PART_BYTES`, well under S3's 10,000.
 */
export const MAX_BATCH_INPUT_BYTES = 2048 * MiB;
/**
 * Input files up to this size go up in one presigned PUT, larger ones in parts of this size: each
 * request stays below the local S3 emulator's 11 MiB body limit, and above S3's 5 MiB part minimum.
 */
export const BATCH_INPUT_PART_BYTES = 8 * MiB;
/** How long an input upload's presigned URLs stay valid. */
export const BATCH_INPUT_URL_TTL_SECONDS = 3600;
/** Input files one job may name (its manifest). */
export const MAX_JOB_INPUTS = 100;
