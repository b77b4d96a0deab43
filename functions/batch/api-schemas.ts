/**
 * Batch inference: the shapes every batch component agrees on (API, submissions queue, fan-out,
 * work queue, worker, store). Behaviour lives in the modules beside this one.
 */
import { AliasNameSchema, ModelNameSchema, VersionSchema } from '../../contracts/registry-schemas';
import * as z from '../../contracts/zod';

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

/** One item: the inputs of a single inference, each with batch dimension 1 when the model batches. */
export const BatchItemSchema = z.object({
  id: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  inputs: z.array(z.unknown()).check(z.minLength(1)),
});

/** `POST /v1/batch-jobs` body, and the body of a submissions-queue message (plus `owner`, `jobId`). */
export const SubmitBatchJobSchema = z.strictObject({
  model: ModelNameSchema,
  /** A version number or an alias; the latest active version when absent. */
  version: z.optional(z.union([VersionSchema, AliasNameSchema])),
  items: z.array(BatchItemSchema).check(z.minLength(1), z.maxLength(100_000)),
});
export type SubmitBatchJob = z.infer<typeof SubmitBatchJobSchema>;

/** The `Idempotency-Key` header of `POST /v1/batch-jobs`. */
export const IdempotencyKeySchema = z
  .string()
  .check(z.regex(/^[\x21-\x7e]{1,128}$/, 'must be 1 to 128 printable ASCII characters'));
/** A job id, as the `/v1/batch-jobs/{jobId}` routes and queue messages name jobs. */
export const JobIdSchema = z.string().check(z.regex(/^[A-Za-z0-9_-]{1,64}$/));
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

/** A message on the submissions queue: the queue's IAM policy is its authentication. */
export const SubmissionMessageSchema = z.strictObject({
  ...SubmitBatchJobSchema.shape,
  owner: z.string().check(z.minLength(1), z.maxLength(256)),
  jobId: z.optional(JobIdSchema),
});

/** A message on the work queue: one chunk of one job (its inputs are in the store, not the message). */
export const WorkMessageSchema = z.strictObject({
  jobId: z.string().check(z.minLength(1), z.maxLength(64)),
  chunk: z.number().check(z.int(), z.minimum(0)),
});

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
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly completedAt?: string;
  /** Set when a cancel was requested; unstarted chunks are then counted as cancelled. */
  readonly cancelRequestedAt?: string;
}

/** One item's outcome, in item order within the job. */
export type ItemResult =
  | { readonly index: number; readonly id?: string; readonly outputs: readonly unknown[] }
  | { readonly index: number; readonly id?: string; readonly error: string }
  | { readonly index: number; readonly id?: string; readonly cancelled: true };
