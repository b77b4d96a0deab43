import { createHash } from 'node:crypto';
import { parseInput } from '../edge/validation';
import { type BatchSubmission, OwnerSchema } from './api-schemas';

/**
 * What an idempotency key names for its caller (a job, an input file): a SHA-256 of the owner's
 * length and UTF-8 bytes, then the key. Distinct (owner, key) pairs never hash the same input,
 * which an ill-formed owner (encoded lossily) would break, so it is refused.
 */
export function keyDigest(owner: string, idempotencyKey: string): Buffer {
  const ownerBytes = Buffer.from(parseInput(OwnerSchema, owner, 'owner'), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(ownerBytes.length);
  return createHash('sha256').update(length).update(ownerBytes).update(idempotencyKey, 'utf8').digest();
}

/**
 * The hash of a submission as parsed: model, version as requested, items or input files, and where
 * results go. Object keys are sorted, so two bodies that differ only in key order or spacing are the
 * same submission.
 */
export function fingerprintOf(submission: BatchSubmission): string {
  const canonical = JSON.stringify(
    // `inputs` (absent from an items job, so its hash is as before) names the files by id.
    {
      model: submission.model,
      version: submission.version ?? null,
      items: submission.items,
      inputs: submission.inputs,
      // Only when asked for, so a table job's fingerprint is what it was before results could go to S3.
      ...(submission.results === 's3' ? { results: 's3' } : {}),
    },
    (_, value: unknown) =>
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : value,
  );
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}
