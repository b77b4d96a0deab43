/** The shapes of batch input files: their upload routes' bodies and how a job names them. */
import {
  BATCH_INPUT_URL_TTL_SECONDS,
  MAX_BATCH_INPUT_BYTES,
  MAX_JOB_INPUTS,
} from '../../contracts/batch-data';
import * as z from '../../contracts/zod';

export { BATCH_INPUT_URL_TTL_SECONDS, MAX_BATCH_INPUT_BYTES };

/**
 * An input file's id: a random UUID the upload route chose, one derived from an idempotency key, or
 * a name the caller gave it; a path segment and a key's last part either way.
 */
const INPUT_ID = '[A-Za-z0-9][A-Za-z0-9._-]{0,199}';

export const InputIdSchema = z
  .string()
  .check(
    z.regex(
      new RegExp(`^${INPUT_ID}$`),
      'must be an inputId: 1-200 letters, digits, ".", "_" and "-", starting with a letter or digit',
    ),
  );

/** `POST /v1/batch-inputs` body: the file's size, which decides one PUT or parts, and its name. */
export const StartInputUploadSchema = z.strictObject({
  size: z.number().check(z.int(), z.minimum(1), z.maximum(MAX_BATCH_INPUT_BYTES)),
  /** The input's id, chosen by the caller (e.g. `sales-2026-12-01`), so that a job can name a prefix. */
  name: z.optional(InputIdSchema),
});

/** `POST /v1/batch-inputs/{inputId}/complete` body: the multipart upload and its parts' ETags. */
export const CompleteInputUploadSchema = z.strictObject({
  uploadId: z.string().check(z.minLength(1), z.maxLength(1024)),
  parts: z
    .array(
      z.strictObject({
        partNumber: z.number().check(z.int(), z.minimum(1), z.maximum(10_000)),
        etag: z.string().check(z.minLength(1), z.maxLength(256)),
      }),
    )
    .check(z.minLength(1), z.maxLength(10_000)),
});

/** Path parameters of `/v1/batch-inputs/{inputId}/complete`. */
export const InputPathSchema = z.object({ inputId: z.optional(InputIdSchema) });

/**
 * The input files a job reads, in order: a manifest of the caller's own uploads, each named by its
 * id, or several by an id prefix and `*`: every input of theirs whose id starts with it, in key order.
 */
export const JobInputsSchema = z
  .array(
    z
      .string()
      .check(
        z.regex(
          new RegExp(`^(${INPUT_ID}|[A-Za-z0-9._-]{0,200}\\*)$`),
          'must be an inputId, or an id prefix and "*" for all of your inputs whose id starts with it',
        ),
      ),
  )
  .check(z.minLength(1), z.maxLength(MAX_JOB_INPUTS));

/** Whether a job's input entry names several inputs by a prefix (`JobInputsSchema`). */
export const isInputPrefix = (entry: string) => entry.endsWith('*');

/** One input file of a job, as the job records it at submission. */
export interface JobInput {
  readonly inputId: string;
  readonly key: string;
  readonly size: number;
  /** The object's ETag when the job was submitted: every read is conditional on it (`If-Match`). */
  readonly etag: string;
}

/**
 * How far the scan of a job's input files has gone: the next byte to read of input `input`, the
 * line number there (1-based), and the item and chunk numbers the next chunk starts with.
 */
export interface ScanCursor {
  readonly input: number;
  readonly offset: number;
  readonly line: number;
  readonly item: number;
  readonly chunk: number;
  /**
   * From here the lines are only counted (the job was cancelled). Part of the cursor, so that every
   * scan from one cursor plans the same chunks whenever it read the job.
   */
  readonly counting?: true;
}

/**
 * Where a chunk's items are: bytes `start` to `end` (exclusive) of input `input`, whose first line
 * is line `line`, holding `count` items. `oversize` marks a single line longer than a line may be,
 * which is never read again: its item fails. `counted` marks a chunk of lines counted after a
 * cancel, which no planned chunk may replace.
 */
export interface InputRange {
  readonly input: number;
  readonly start: number;
  readonly end: number;
  readonly line: number;
  readonly count: number;
  readonly oversize?: true;
  readonly counted?: true;
}
