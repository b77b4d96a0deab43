import * as z from 'zod';
import { COUNTER_KEYS } from './counter-keys';

/** Attribute names of the rate-limit table, a counter table. */
export const RATE_LIMIT_KEYS = COUNTER_KEYS;

/** The tier of principals whose token names no tier, or a tier the configuration does not know. */
export const DEFAULT_TIER = 'standard';

export const TierLimitSchema = z
  .object({
    /** Requests admitted per window. */
    limit: z.number().int().positive(),
    /** Window length; windows are aligned to the epoch, so every container agrees on them. */
    windowSeconds: z.number().int().positive(),
  })
  .strict();
export type TierLimit = z.infer<typeof TierLimitSchema>;

/** Tier name (the token's `tier` claim) to its limit; `standard` must be present. */
export const RateLimitTiersSchema = z.object({ [DEFAULT_TIER]: TierLimitSchema }).catchall(TierLimitSchema);
export type RateLimitTiers = z.infer<typeof RateLimitTiersSchema>;
