/**
 * Batch inference: the shapes every batch component agrees on (API, submissions queue, fan-out,
 * work queue, worker, store). Behaviour lives in the modules beside this one.
 */
import { AliasNameSchema, ModelNameSchema, VersionSchema } from '../../contracts/registry-schemas';
import * as z from '../../contracts/zod';
import { JobInputsSchema } from './input-schemas';

/** Job states; the last four are terminal. */
export const JOB_STATUSES = [
  'QUEUED',
  'RUNNING',
  'SUCCEEDED',
  'COMPLETED_WITH_ERRORS',
  'FAILED',
  'CANCELLED',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = [
  'SUCCEEDED',
  'COMPLETED_WITH_ERRORS',
  'FAILED',
  'CANCELLED',
];

/** Where a job's results are kept: result items in the batch table, or JSONL parts in the batch data bucket. */
export const RESULTS_LOCATIONS = ['table', 's3'] as const;
export type ResultsLocation = (typeof RESULTS_LOCATIONS)[number];

/**
 * One item: the inputs of a single inference, each with batch dimension 1 when the model batches.
 * Nothing else: a chunk's items go to the model as one request, so per-item `outputs` or
 * `parameters` could not be honoured, and are refused rather than dropped.
 */
export const BatchItemSchema = z.strictObject({
  id: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  inputs: z.array(z.unknown()).check(z.minLength(1)),
});

const BatchItemsSchema = z.array(BatchItemSchema).check(z.minLength(1), z.maxLength(100_000));

/**
 * `POST /v1/batch-jobs` body: the items themselves, or `inputs`, the caller's uploaded input files
 * (`POST /v1/batch-inputs`) in the order their lines are the job's items.
 */
export const SubmitBatchJobSchema = z
  .strictObject({
    model: ModelNameSchema,
    /** A version number or an alias; the latest active version when absent. */
    version: z.optional(z.union([VersionSchema, AliasNameSchema])),
    items: z.optional(BatchItemsSchema),
    inputs: z.optional(JobInputsSchema),
    /**
     * Where the results go: DynamoDB, read page by page (the default for items), or JSONL parts in
     * S3 (always for input files, whose jobs may hold millions of items).
     */
    results: z.optional(z.enum(RESULTS_LOCATIONS)),
  })
  .check(
    z.refine(
      (job) => (job.items === undefined) !== (job.inputs === undefined),
      'give either items or inputs (the ids of uploaded input files), not both',
    ),
    z.refine(
      (job) => job.inputs === undefined || job.results !== 'table',
      'a job of input files writes its results to S3: leave out results or give "s3"',
    ),
  );
/** A submission as parsed: items, or input files. */
export type BatchSubmission = z.infer<typeof SubmitBatchJobSchema>;
/** A submission of its items. */
export type SubmitBatchJob = Omit<BatchSubmission, 'items' | 'inputs'> & {
  items: NonNullable<BatchSubmission['items']>;
};

/** The `Idempotency-Key` header of `POST /v1/batch-jobs` and `POST /v1/batch-inputs`. */
export const IdempotencyKeySchema = z
  .string()
  .check(z.regex(/^[\x21-\x7e]{1,128}$/, 'must be 1 to 128 printable ASCII characters'));
const NAMED_JOB_ID = '[A-Za-z0-9_-]{1,64}';
/**
 * A job id derived from an idempotency key: `key.` and a SHA-256 in base64url. Its `.` is outside
 * what a submission may name, so no SQS message can create the job a keyed submission will derive.
 */
export const KEYED_JOB_ID_PREFIX = 'key.';
const KEYED_JOB_ID = 'key\\.[A-Za-z0-9_-]{43}';
/** A job id an SQS submission may name; the API's random ids (UUIDs) have this form too. */
export const NamedJobIdSchema = z.string().check(z.regex(new RegExp(`^${NAMED_JOB_ID}$`)));
/** A job id, as the `/v1/batch-jobs/{jobId}` routes and queue messages name jobs: named or keyed. */
export const JobIdSchema = z.string().check(z.regex(new RegExp(`^(?:${NAMED_JOB_ID}|${KEYED_JOB_ID})$`)));
/** Path parameters of the `/v1/batch-jobs/{jobId}` routes. */
export const JobPathSchema = z.object({ jobId: z.optional(JobIdSchema) });
/** `GET /v1/batch-jobs` query. */
export const ListJobsQuerySchema = z.strictObject({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 20),
  nextToken: z.optional(z.string().check(z.maxLength(2048))),
});
/** `GET /v1/batch-jobs/{jobId}/results` query. */
export const ListResultsQuerySchema = z.strictObject({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 100),
  nextToken: z.optional(z.string().check(z.maxLength(256))),
});

/**
 * The subject a job belongs to. DynamoDB stores strings as UTF-8, where a lone surrogate becomes
 * U+FFFD, so two subjects that differ only there would share jobs: only well-formed Unicode is an owner.
 */
export const OwnerSchema = z.string().check(
  z.minLength(1),
  z.maxLength(256),
  z.refine((owner) => !/\p{Surrogate}/u.test(owner), 'must be well-formed Unicode (no lone surrogates)'),
);

/** A message on the submissions queue: the queue's IAM policy is its authentication. */
export const SubmissionMessageSchema = z.strictObject({
  model: SubmitBatchJobSchema.shape.model,
  version: SubmitBatchJobSchema.shape.version,
  // Input files are named through the API only, which checks they are the caller's.
  items: BatchItemsSchema,
  owner: OwnerSchema,
  jobId: z.optional(NamedJobIdSchema),
});

/** A submissions-queue message for a job the API stored already: the API's own message. */
export const StoredJobMessageSchema = z.strictObject({
  jobId: JobIdSchema,
  /** Present on the continuation of a scan of the job's input files, which goes on where it stopped. */
  scan: z.optional(z.literal(true)),
  /** Present on a retry's message: the attempt whose chunks to queue again. */
  retry: z.optional(z.number().check(z.int(), z.minimum(1))),
  /**
   * Present on the job's stall check, which the fan-out queues again, delayed, until the job ends:
   * the token of the job's chain of checks, which acts only while the job holds it. The state the
   * check judges stillness by is the job's, never the message's.
   */
  watch: z.optional(
    z.union([
      z.strictObject({ token: z.string().check(z.maxLength(64)) }),
      // A check sent before checks carried a token (docs/batch.md, "Upgrading a deployed platform").
      z.strictObject({
        updatedAt: z.string().check(z.maxLength(64)),
        since: z.number().check(z.int(), z.minimum(0)),
      }),
    ]),
  ),
});

/** A message on the work queue: one chunk of one job (its inputs are in the store, not the message). */
export const WorkMessageSchema = z.strictObject({
  jobId: z.string().check(z.minLength(1), z.maxLength(64)),
  chunk: z.number().check(z.int(), z.minimum(0)),
  /** Present when the chunk is queued by a retry: only its failed items run again. */
  attempt: z.optional(z.number().check(z.int(), z.minimum(1))),
  /** Present when the chunk was deferred for a model outage: when the outage began (epoch ms). */
  outageSince: z.optional(z.number().check(z.int(), z.minimum(0))),
  /** How many times the chunk has been deferred for that outage. */
  deferrals: z.optional(z.number().check(z.int(), z.minimum(1))),
});
export type WorkMessage = z.infer<typeof WorkMessageSchema>;

/** The work message in an SQS record's body, or why it is not one (a body that is not JSON included). */
export function parseWorkMessage(body: string) {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return WorkMessageSchema.safeParse(json);
}

export interface BatchJob {
  readonly jobId: string;
  readonly owner: string;
  readonly model: string;
  /** The concrete version the job runs on (an alias is resolved once, at submission). */
  readonly version: string;
  readonly status: JobStatus;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly chunks: number;
  /** Where its results are kept; jobs stored before this field existed keep theirs in the table. */
  readonly resultsTo: ResultsLocation;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly completedAt?: string;
  /** How many retries of its failed items were started (0 before any). */
  readonly attempt: number;
  /** Set when a cancel was requested; unstarted chunks are then counted as cancelled. */
  readonly cancelRequestedAt?: string;
  /**
   * Present while the job's input files are still being read: `total` and `chunks` count the items
   * found so far and grow until it goes.
   */
  readonly inputScan?: { readonly bytesRead: number; readonly bytes: number };
  /**
   * Why the job's input files were not read to their end (the scan could not go on): the items
   * found before that point are the job's, and the rest of the files is not part of it.
   */
  readonly statusReason?: string;
}

/** One item's outcome, in item order within the job. */
export type ItemResult =
  | { readonly index: number; readonly id?: string; readonly outputs: readonly unknown[] }
  | { readonly index: number; readonly id?: string; readonly error: string }
  | { readonly index: number; readonly id?: string; readonly cancelled: true };
