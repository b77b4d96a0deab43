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
  /**
   * Requests this container can still admit in the window as far as it knows: its unspent lease
   * plus the budget no container had claimed at its last write. Absent when the limiter could not
   * reach the counter (`degraded`).
   */
  readonly remaining?: number;
  /** When the current window ends, in epoch seconds. */
  readonly resetEpochSeconds: number;
  /** Whole seconds until the window ends (at least 1); present only when the request is denied. */
  readonly retryAfterSeconds?: number;
  /**
   * The counter could not be written, so the decision came from the container's failure allowance
   * (see `RateLimiter.consume`).
   */
  readonly degraded?: boolean;
  /** The DynamoDB error behind a degraded decision, for the caller's log. */
  readonly cause?: unknown;
}

/** How the limiter leases budget; every field has a default (`LEASE_DEFAULTS`). */
export interface LeaseSettings {
  /** A lease is sized to cover this long of the container's recent request rate. */
  readonly leaseSeconds: number;
  /** No lease takes more than this share of the budget still unclaimed, so containers share fairly. */
  readonly maxLeaseShare: number;
  /** Share of the limit one container may admit uncounted per window while the counter fails. */
  readonly failureShare: number;
  /** After a counter failure, the container serves from its allowance this long before writing again. */
  readonly failureBackoffMs: number;
}

export const LEASE_DEFAULTS: LeaseSettings = {
  leaseSeconds: 2,
  maxLeaseShare: 0.1,
  failureShare: 0.001,
  failureBackoffMs: 1000,
};

/**
 * Window items outlive their window by this much before DynamoDB's TTL may delete them, so clock
 * skew between containers never lets a late writer restart a window's count. Correctness does not
 * depend on deletion at all (each window has its own item); TTL only keeps the table small.
 */
const EXPIRY_MARGIN_SECONDS = 300;

/** Windows a container keeps state for before it drops the ones that have ended. */
const PRUNE_AT = 10_000;

/** One container's view of one principal's window. */
interface WindowState {
  readonly windowStart: number;
  /** Leased and not yet spent: admitted without a call. */
  tokens: number;
  /** The window's count (every container's leases) at this container's last successful write. */
  claimed: number;
  /** When that write was made (0: none yet in this window). */
  claimedAt: number;
  /**
   * Requests a second the window's count grew by between this container's last two writes: every
   * container's claims, its own included (0: not known yet).
   */
  claimRate: number;
  /** A write for the whole remaining budget failed its condition: nothing is left in the window. */
  exhausted: boolean;
  /** The write in flight, which concurrent requests wait for rather than write too. */
  pending?: Promise<void>;
  /** Until then the counter is presumed failing and the failure allowance applies. */
  failingUntil: number;
  /** Admitted uncounted in this window from the failure allowance. */
  uncounted: number;
  /** Requests this container saw in the current and the previous rate period (`leaseSeconds`). */
  arrivals: number;
  previousArrivals: number;
  periodStart: number;
}

/**
 * Fixed-window limits per principal in DynamoDB, one counter item per principal per window, with
 * the window's budget handed out in leases: a container claims a block of requests with one
 * conditional `UpdateItem` (`ADD count :n` only while `count + n <= limit`), admits from the block
 * locally, and asks again when it is spent. The block covers `leaseSeconds` of the container's own
 * recent rate (less when the window ends sooner, or when the unclaimed budget runs out sooner at the
 * rate the count has been growing), capped at `maxLeaseShare` of what is still unclaimed (at least
 * one request), so a busy container writes about once per `leaseSeconds`, a quiet one leases a
 * request at a time, and a scarce budget is shared by pace rather than by who asks first.
 *
 * Bound: the item's count never exceeds the limit, and every admission outside a failure spends a
 * token the count includes, so a window admits at most `limit` requests, plus at most
 * `ceil(failureShare × limit)` per container that found the counter failing. Leases of containers
 * that stop in mid-window are never given back: they lower admissions, never raise them. Windows are
 * fixed and aligned to the epoch, so any interval of one window's length spans at most two windows:
 * at most twice the limit across a boundary.
 */
export class RateLimiter {
  private readonly tiers: RateLimitTiers;
  private readonly settings: LeaseSettings;
  private readonly windows = new Map<string, WindowState>();

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    tiers: RateLimitTiers,
    private readonly now: () => number = () => Date.now(),
    settings: Partial<LeaseSettings> = {},
  ) {
    this.tiers = RateLimitTiersSchema.parse(tiers);
    this.settings = { ...LEASE_DEFAULTS, ...settings };
  }

  /**
   * Admits one request against the principal's current window, from this container's lease when it
   * has one, otherwise after leasing more.
   *
   * Any DynamoDB failure other than the full-window condition (throttling, timeouts, network)
   * switches the container to its failure allowance for `failureBackoffMs`: it admits uncounted up
   * to `ceil(failureShare × limit)` requests per window and then denies, each decision flagged
   * `degraded` for the caller to log and count. Neither open nor closed: bounded.
   */
  async consume(principal: RateLimitPrincipal): Promise<RateLimitDecision> {
    const tier = this.tierOf(principal.tier);
    const settings = this.settingsOf(tier);
    const windowMs = tier.windowSeconds * 1000;
    const now = this.now();
    const windowStart = Math.floor(now / windowMs) * windowMs;
    const state = this.stateOf(principal.sub, tier.windowSeconds, windowStart);
    this.noteArrival(state, now, settings.leaseSeconds * 1000);
    let failure: unknown;
    for (;;) {
      if (state.tokens > 0) {
        state.tokens--;
        return this.decide(tier, windowStart, true, state.tokens + Math.max(0, tier.limit - state.claimed));
      }
      if (state.exhausted) return this.decide(tier, windowStart, false, 0);
      if (state.pending) {
        await state.pending;
        continue;
      }
      if (this.now() < state.failingUntil) break;
      const key = windowKey(principal.sub, tier.windowSeconds, windowStart);
      state.pending = this.lease(key, state, tier, windowStart).then(
        (error) => {
          failure = error;
        },
        (error) => {
          failure = error;
        },
      );
      await state.pending;
      state.pending = undefined;
    }
    const allowance = Math.ceil(settings.failureShare * tier.limit);
    const allowed = state.uncounted < allowance;
    if (allowed) state.uncounted++;
    return {
      ...this.decide(tier, windowStart, allowed, undefined),
      degraded: true,
      ...(failure === undefined ? {} : { cause: failure }),
    };
  }

  /** Claims a block of the window's budget; resolves to the error when the counter failed. */
  private async lease(
    key: string,
    state: WindowState,
    tier: TierLimit,
    windowStart: number,
  ): Promise<unknown> {
    const unclaimed = Math.max(1, tier.limit - state.claimed);
    let size = Math.max(
      1,
      Math.min(
        this.expectedDemand(state, tier, windowStart + tier.windowSeconds * 1000),
        Math.floor(unclaimed * this.settingsOf(tier).maxLeaseShare),
        unclaimed,
      ),
    );
    for (;;) {
      try {
        const count = await this.claim(key, size, tier, windowStart);
        this.noteClaim(state, count);
        state.tokens += size;
        return undefined;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) {
          state.failingUntil = this.now() + this.settingsOf(tier).failureBackoffMs;
          return error;
        }
        if (size === 1) {
          state.exhausted = true;
          state.claimed = tier.limit;
          return undefined;
        }
        // Others claimed more than this container knew. One request fits or nothing does, and a
        // write that succeeds returns the count, which sizes the next lease right.
        size = 1;
      }
    }
  }

  /**
   * Requests this container expects over the lease's horizon: the larger of the last full period's
   * count and the current period's pace (once it has two arrivals to go by, over at least a tenth of
   * a period, so one request does not make a rate), over `leaseSeconds`, or less when the window
   * ends sooner or when, at the rate the count has been growing, the unclaimed budget runs out
   * sooner. The last keeps leases fair: while the budget is scarce each container claims what its
   * own pace needs until the budget would run out, its share of the principal's rate, rather than
   * the first containers to ask taking what is left.
   */
  private expectedDemand(state: WindowState, tier: TierLimit, windowEnd: number): number {
    const periodMs = this.settingsOf(tier).leaseSeconds * 1000;
    const now = this.now();
    const elapsed = Math.max(now - state.periodStart, periodMs / 10);
    const pace = state.arrivals > 1 ? (state.arrivals * periodMs) / elapsed : state.arrivals;
    // The count has grown since this container's last write: at the same rate, the budget lasts
    // this long from now.
    const untilExhausted =
      state.claimRate > 0
        ? ((tier.limit - state.claimed) / state.claimRate) * 1000 - (now - state.claimedAt)
        : periodMs;
    const horizon = Math.max(0, Math.min(1, (windowEnd - now) / periodMs, untilExhausted / periodMs));
    return Math.ceil(Math.max(state.previousArrivals, pace) * horizon);
  }

  /** Records a successful write's count, and the rate the count grew at since the previous one. */
  private noteClaim(state: WindowState, count: number): void {
    const now = this.now();
    if (state.claimedAt > 0 && now > state.claimedAt) {
      state.claimRate = ((count - state.claimed) * 1000) / (now - state.claimedAt);
    }
    state.claimed = count;
    state.claimedAt = now;
  }

  /** One conditional write: adds `size` to the window's count unless that would pass the limit. */
  private async claim(key: string, size: number, tier: TierLimit, windowStart: number): Promise<number> {
    const { Attributes } = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [RATE_LIMIT_KEYS.partitionKey]: { S: key } },
        UpdateExpression: 'ADD #count :size SET #expiresAt = if_not_exists(#expiresAt, :expiresAt)',
        ConditionExpression: 'attribute_not_exists(#count) OR #count <= :room',
        ExpressionAttributeNames: { '#count': 'count', '#expiresAt': RATE_LIMIT_KEYS.ttlAttribute },
        ExpressionAttributeValues: {
          ':size': { N: String(size) },
          ':room': { N: String(tier.limit - size) },
          ':expiresAt': {
            N: String((windowStart + tier.windowSeconds * 1000) / 1000 + EXPIRY_MARGIN_SECONDS),
          },
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const count = Number(Attributes?.count?.N);
    if (!Number.isInteger(count))
      throw new Error(`rate-limit counter came back as ${JSON.stringify(Attributes)}`);
    return count;
  }

  private decide(
    tier: TierLimit,
    windowStart: number,
    allowed: boolean,
    remaining: number | undefined,
  ): RateLimitDecision {
    const windowEnd = windowStart + tier.windowSeconds * 1000;
    const resetEpochSeconds = windowEnd / 1000;
    const base = {
      allowed,
      limit: tier.limit,
      resetEpochSeconds,
      ...(remaining === undefined ? {} : { remaining }),
    };
    if (allowed) return base;
    return { ...base, retryAfterSeconds: Math.max(1, Math.ceil((windowEnd - this.now()) / 1000)) };
  }

  private stateOf(sub: string, windowSeconds: number, windowStart: number): WindowState {
    const key = windowKey(sub, windowSeconds, windowStart);
    let state = this.windows.get(key);
    if (state) return state;
    if (this.windows.size >= PRUNE_AT) {
      for (const [k, s] of this.windows)
        if (s.windowStart < windowStart && !s.pending) this.windows.delete(k);
    }
    // The rate seen in the previous window sizes the first lease of this one.
    const previous = this.windows.get(windowKey(sub, windowSeconds, windowStart - windowSeconds * 1000));
    state = {
      windowStart,
      tokens: 0,
      claimed: 0,
      claimedAt: 0,
      claimRate: 0,
      exhausted: false,
      failingUntil: previous?.failingUntil ?? 0,
      uncounted: 0,
      arrivals: previous?.arrivals ?? 0,
      previousArrivals: previous?.previousArrivals ?? 0,
      periodStart: previous?.periodStart ?? windowStart,
    };
    this.windows.set(key, state);
    return state;
  }

  private noteArrival(state: WindowState, now: number, periodMs: number): void {
    const periods = Math.floor((now - state.periodStart) / periodMs);
    if (periods >= 1) {
      state.previousArrivals = periods === 1 ? state.arrivals : 0;
      state.arrivals = 0;
      state.periodStart += periods * periodMs;
    }
    state.arrivals++;
  }

  /** The tier's own lease settings over the container's. */
  private settingsOf(tier: TierLimit): LeaseSettings {
    const { leaseSeconds, maxLeaseShare, failureShare } = tier;
    return {
      ...this.settings,
      ...(leaseSeconds === undefined ? {} : { leaseSeconds }),
      ...(maxLeaseShare === undefined ? {} : { maxLeaseShare }),
      ...(failureShare === undefined ? {} : { failureShare }),
    };
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
