import { COUNTER_KEYS } from './counter-keys';
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
});
export type TierLimit = z.infer<typeof TierLimitSchema>;

/** Tier name (the token's `tier` claim) to its limit; `standard` must be present. */
export const RateLimitTiersSchema = z.catchall(
  z.object({ [DEFAULT_TIER]: TierLimitSchema }),
  TierLimitSchema,
);
export type RateLimitTiers = z.infer<typeof RateLimitTiersSchema>;
