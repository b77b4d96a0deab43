import { createHash } from 'node:crypto';
import type { BatchSubmission } from './api-schemas';

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
