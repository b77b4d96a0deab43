import { createHash } from 'node:crypto';
import type { SubmitBatchJob } from './api-schemas';

/**
 * The hash of a submission as parsed: model, version as requested, items and where results go. Object keys are
 * sorted, so two bodies that differ only in key order or spacing are the same submission.
 */
export function fingerprintOf(submission: SubmitBatchJob): string {
  const canonical = JSON.stringify(
    {
      model: submission.model,
      version: submission.version ?? null,
      items: submission.items,
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
