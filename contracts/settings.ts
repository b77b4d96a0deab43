import { COUNTER_KEYS } from './table-keys';
import * as z from './zod';

/** Attribute names of the rate-limit table, a counter table. */
export const RATE_LIMIT_KEYS = COUNTER_KEYS;

/** The tier of principals whose token names no tier, or a tier the configuration does not know. */
export const DEFAULT_TIER = 'standard';

export const TierLimitSchema = z.strictObject({
  /** Requests admitted per window. */
  limit: z.number().check(z.int(), z.positive()),
  /** Window length; windows are aligned to the epoch, so every container agrees on them. */
  windowSeconds: z.number().check(z.int(), z.positive()),
  /** Seconds of a container's own pace one lease of the window's budget covers (default 2). */
  leaseSeconds: z.optional(z.number().check(z.positive(), z.maximum(60))),
  /** Largest share of the unclaimed budget one lease may take (default 0.1). */
  maxLeaseShare: z.optional(z.number().check(z.positive(), z.maximum(1))),
  /** Share of the limit each container may admit uncounted per window while the counter fails (default 0.001). */
  failureShare: z.optional(z.number().check(z.minimum(0), z.maximum(1))),
});
export type TierLimit = z.infer<typeof TierLimitSchema>;

/** Tier name (the token's `tier` claim) to its limit; `standard` must be present. */
export const RateLimitTiersSchema = z.catchall(
  z.object({ [DEFAULT_TIER]: TierLimitSchema }),
  TierLimitSchema,
);
export type RateLimitTiers = z.infer<typeof RateLimitTiersSchema>;

/** Circuit breakers of the model backends, shared through the circuit table. */
export const CircuitSettingsSchema = z.object({
  /** Retryable failures within `windowSeconds` that open the circuit. */
  failureThreshold: z.number().check(z.int(), z.minimum(1)),
  windowSeconds: z.number().check(z.int(), z.minimum(1)),
  /** How long an open circuit fails fast before one probe may go through. */
  cooldownSeconds: z.number().check(z.int(), z.minimum(1)),
  /** How long a probe may take before another container may probe instead (a container can die mid-probe). */
  probeTimeoutSeconds: z.number().check(z.int(), z.minimum(1)),
  /** How long a container reuses the circuit state it read. */
  cacheTtlMs: z.number().check(z.int(), z.minimum(0)),
});
export type CircuitSettings = z.infer<typeof CircuitSettingsSchema>;

/**
 * A batch job's window, the most of its chunks on the work queue or in a worker at once: what every
 * worker invocation but one holds. A job alone leaves that one invocation free, so a job submitted
 * behind it starts at once instead of waiting for a chunk of it to finish.
 */
export function batchWorkWindow(workerConcurrency: number, workerBatchSize: number): number {
  return Math.max(1, workerConcurrency - 1) * workerBatchSize;
}
