/**
 * Batch inference: the shapes every batch component agrees on (API, submissions queue, fan-out,
 * work queue, worker, store). Behaviour lives in the modules beside this one.
 */
import * as z from 'zod';
import { AliasNameSchema, ModelNameSchema, VersionSchema } from '../shared/registry-schemas';

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
  id: z.string().min(1).max(128).optional(),
  inputs: z.array(z.unknown()).min(1),
});

/** `POST /v1/batch-jobs` body, and the body of a submissions-queue message (plus `owner`, `jobId`). */
export const SubmitBatchJobSchema = z
  .object({
    model: ModelNameSchema,
    /** A version number or an alias; the latest active version when absent. */
    version: z.union([VersionSchema, AliasNameSchema]).optional(),
    items: z.array(BatchItemSchema).min(1).max(100_000),
  })
  .strict();
export type SubmitBatchJob = z.infer<typeof SubmitBatchJobSchema>;

/** The `Idempotency-Key` header of `POST /v1/batch-jobs`. */
export const IdempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1 to 128 printable ASCII characters');
/** Path parameters of the `/v1/batch-jobs/{jobId}` routes. */
export const JobPathSchema = z.object({
  jobId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional(),
});
/** `GET /v1/batch-jobs` query. */
export const ListJobsQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    nextToken: z.string().max(2048).optional(),
  })
  .strict();
/** `GET /v1/batch-jobs/{jobId}/results` query. */
export const ListResultsQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    nextToken: z.string().max(256).optional(),
  })
  .strict();

/** A message on the submissions queue: the queue's IAM policy is its authentication. */
export const SubmissionMessageSchema = SubmitBatchJobSchema.extend({
  owner: z.string().min(1).max(256),
  jobId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .optional(),
}).strict();
export type SubmissionMessage = z.infer<typeof SubmissionMessageSchema>;

/** A message on the work queue: one chunk of one job (its inputs are in the store, not the message). */
export const WorkMessageSchema = z
  .object({ jobId: z.string().min(1).max(64), chunk: z.number().int().min(0) })
  .strict();
export type WorkMessage = z.infer<typeof WorkMessageSchema>;

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
