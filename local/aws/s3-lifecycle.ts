import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { BatchDataLifecycleRule } from '../../contracts/batch-data';
import { type PeriodicSweep, startPeriodicSweep } from './periodic-sweep';

const DAY_MS = 86_400_000;
/** DeleteObjects takes at most 1,000 keys (API reference, DeleteObjects). */
const MAX_DELETE_KEYS = 1_000;

/** Its passes go over the rules; each resolves with how many objects it deleted. */
export interface S3LifecycleSweeper extends PeriodicSweep {
  readonly rules: readonly BatchDataLifecycleRule[];
}

/**
 * S3 lifecycle expiration for the fauxqs bucket, which has no lifecycle rules. S3 expires an object
 * by adding the rule's days to the object's creation time and rounding up to the next midnight UTC
 * ("Lifecycle configuration elements", Amazon S3 User Guide,
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html), and removes it
 * asynchronously after that; each pass here deletes the objects past that time (their
 * `LastModified` standing for the creation time: the bucket is not versioned).
 *
 * `dayMs` is the length of a day, 86,400,000 unless a short local retention shrinks it so that a
 * retention of N days lasts the configured seconds (docs/batch.md, "Retention"); the rounding is to
 * the next whole such day since the epoch, which is midnight UTC for a real day. fauxqs lists no
 * multipart uploads, so the abort rules are not applied.
 */
export function startS3LifecycleSweeper(
  client: S3Client,
  bucket: string,
  rules: readonly BatchDataLifecycleRule[],
  options: { readonly intervalMs: number; readonly dayMs?: number; readonly now?: () => number },
): S3LifecycleSweeper {
  const now = options.now ?? Date.now;
  const dayMs = options.dayMs ?? DAY_MS;
  const periodic = startPeriodicSweep(async () => {
    let deleted = 0;
    for (const rule of rules) {
      if (rule.expirationDays !== undefined) {
        deleted += await expire(client, bucket, rule.prefix, rule.expirationDays, dayMs, now());
      }
    }
    return deleted;
  }, options.intervalMs);
  return { rules, ...periodic };
}

async function expire(
  client: S3Client,
  bucket: string,
  prefix: string,
  days: number,
  dayMs: number,
  nowMs: number,
): Promise<number> {
  const expired: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      const written = object.LastModified?.getTime();
      if (object.Key === undefined || written === undefined) continue;
      const expiresAt = Math.ceil((written + days * dayMs) / dayMs) * dayMs;
      if (expiresAt <= nowMs) expired.push(object.Key);
    }
    token = page.NextContinuationToken;
  } while (token);
  for (let i = 0; i < expired.length; i += MAX_DELETE_KEYS) {
    await client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: expired.slice(i, i + MAX_DELETE_KEYS).map((Key) => ({ Key })), Quiet: true },
      }),
    );
  }
  return expired.length;
}
