import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import {
  DEFAULT_TIER,
  RATE_LIMIT_KEYS,
  type RateLimitTiers,
  RateLimitTiersSchema,
  type TierLimit,
} from '../../contracts/settings';

export { RATE_LIMIT_KEYS, type RateLimitTiers, RateLimitTiersSchema };

export interface RateLimitPrincipal {
  /** The token's `sub`: any string. */
  readonly sub: string;
  /** The token's `tier` claim (`standard` when the token has none). */
  readonly tier: string;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Requests admitted per window for the principal's tier. */
  readonly limit: number;
  /** Requests left in the current window; absent when the limiter could not count (`degraded`). */
  readonly remaining?: number;
  /** When the current window ends, in epoch seconds. */
  readonly resetEpochSeconds: number;
  /** Whole seconds until the window ends (at least 1); present only when the request is denied. */
  readonly retryAfterSeconds?: number;
  /** The counter could not be updated, so the request was admitted uncounted (see `RateLimiter.consume`). */
  readonly degraded?: boolean;
  /** The DynamoDB error behind a degraded decision, for the caller's log. */
  readonly cause?: unknown;
}

/**
 * Window items outlive their window by this much before DynamoDB's TTL may delete them, so clock
 * skew between containers never lets a late writer restart a window's count. Correctness does not
 * depend on deletion at all (each window has its own item); TTL only keeps the table small.
 */
const EXPIRY_MARGIN_SECONDS = 300;

/**
 * Fixed-window request counters in DynamoDB, one item per principal per window, exact under any
 * concurrency with a single conditional `UpdateItem` per request (no transactions, no reads first,
 * so it behaves the same on dynalite).
 *
 * Fixed windows admit up to twice the limit across a window boundary (the end of one window and
 * the start of the next); that is the price of one write per request and no read-modify-write.
 */
export class RateLimiter {
  private readonly tiers: RateLimitTiers;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    tiers: RateLimitTiers,
    private readonly now: () => number = Date.now,
  ) {
    this.tiers = RateLimitTiersSchema.parse(tiers);
  }

  /**
   * Counts one request against the principal's current window, unless the window is full.
   *
   * Any DynamoDB failure other than the full-window condition (throttling, timeouts, network)
   * fails open: the request is admitted and the decision is flagged `degraded`, for the caller to
   * log and count. Serving inference matters more than the strictness of the limiter, and API
   * Gateway's stage throttling still bounds the total rate while the counters are unavailable.
   */
  async consume(principal: RateLimitPrincipal): Promise<RateLimitDecision> {
    const { limit, windowSeconds } = this.tierOf(principal.tier);
    const now = this.now();
    const windowMs = windowSeconds * 1000;
    const windowStart = Math.floor(now / windowMs) * windowMs;
    const windowEnd = windowStart + windowMs;
    const resetEpochSeconds = windowEnd / 1000;
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: {
            [RATE_LIMIT_KEYS.partitionKey]: { S: windowKey(principal.sub, windowSeconds, windowStart) },
          },
          UpdateExpression: 'ADD #count :one SET #expiresAt = if_not_exists(#expiresAt, :expiresAt)',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
          ExpressionAttributeNames: { '#count': 'count', '#expiresAt': RATE_LIMIT_KEYS.ttlAttribute },
          ExpressionAttributeValues: {
            ':one': { N: '1' },
            ':limit': { N: String(limit) },
            ':expiresAt': { N: String(resetEpochSeconds + EXPIRY_MARGIN_SECONDS) },
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const count = Number(Attributes?.count?.N);
      if (!Number.isInteger(count))
        throw new Error(`rate-limit counter came back as ${JSON.stringify(Attributes)}`);
      return { allowed: true, limit, remaining: Math.max(0, limit - count), resetEpochSeconds };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        const retryAfterSeconds = Math.max(1, Math.ceil((windowEnd - now) / 1000));
        return { allowed: false, limit, remaining: 0, resetEpochSeconds, retryAfterSeconds };
      }
      return { allowed: true, limit, resetEpochSeconds, degraded: true, cause: error };
    }
  }

  private tierOf(tier: string): TierLimit {
    // Object.hasOwn, so a claim such as `constructor` cannot reach the prototype.
    return Object.hasOwn(this.tiers, tier) ? this.tiers[tier]! : this.tiers[DEFAULT_TIER];
  }
}

/**
 * The item key of one principal's window. A JSON string literal is self-delimiting and escapes
 * quotes, control characters and lone surrogates, so the key is collision-free for any `sub`
 * (which `encodeURIComponent` is not: it throws on lone surrogates). The window length is part of
 * the key because a principal whose tier changes to another window length would otherwise share
 * a counter whenever two window starts coincide.
 */
export function windowKey(sub: string, windowSeconds: number, windowStart: number): string {
  return `${JSON.stringify(sub)}@${windowSeconds}@${windowStart}`;
}

/**
 * The rate-limit response headers. `X-RateLimit-Reset` is the window's end in epoch seconds (as
 * GitHub sends it) rather than seconds from now: it stays correct however long the response takes
 * to arrive, and a fixed window's end is the same for every response in it. `Retry-After` (on a
 * denial) carries the relative form. `X-RateLimit-Remaining` is left out when the limiter could
 * not count.
 */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  return {
    'X-RateLimit-Limit': String(decision.limit),
    ...(decision.remaining === undefined ? {} : { 'X-RateLimit-Remaining': String(decision.remaining) }),
    'X-RateLimit-Reset': String(decision.resetEpochSeconds),
    ...(decision.allowed ? {} : { 'Retry-After': String(decision.retryAfterSeconds ?? 1) }),
  };
}
