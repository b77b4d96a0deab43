import type { APIGatewayProxyEvent } from 'aws-lambda';
import { SCOPES, type Scope } from '../../contracts/routes';
import { TOKEN_CLOCK_TOLERANCE_SECONDS } from '../../contracts/tokens';
import * as z from '../../contracts/zod';

/** Who is calling, as the authorizer hands it to every handler. */
export interface Principal {
  readonly sub: string;
  readonly scopes: readonly Scope[];
  readonly tier: string;
}

const KNOWN_SCOPES = new Set<string>(SCOPES);

/** The authorizer's context as API Gateway passes it: every value is a string. */
const AuthorizerContextSchema = z.object({
  sub: z.string().check(z.minLength(1)),
  scopes: z._default(z.string(), ''),
  tier: z._default(z.string().check(z.minLength(1)), 'standard'),
});

/** The caller of a route behind the authorizer; undefined on public routes. */
export function principalOf(event: APIGatewayProxyEvent): Principal | undefined {
  const parsed = AuthorizerContextSchema.safeParse(event.requestContext.authorizer ?? undefined);
  if (!parsed.success) return undefined;
  const scopes = parsed.data.scopes.split(' ').filter((s): s is Scope => KNOWN_SCOPES.has(s));
  return { sub: parsed.data.sub, scopes, tier: parsed.data.tier };
}

/**
 * Whether the request came through the authorizer with a token that has expired since: API
 * Gateway reuses a decision for the authorizer cache's TTL whatever the token's `exp`, so the edge
 * checks it on every request. `exp` is a NumericDate, any JSON number of seconds, fractions allowed
 * (RFC 7519, section 2), which API Gateway hands on as a string. A context without a readable `exp`
 * counts as expired (fails closed).
 */
export function authorizationExpired(event: APIGatewayProxyEvent, nowMs = Date.now()): boolean {
  const context = event.requestContext.authorizer;
  if (!context?.sub) return false;
  const exp = String(context.exp ?? '').trim();
  const seconds = exp === '' ? Number.NaN : Number(exp);
  return !Number.isFinite(seconds) || nowMs / 1000 > seconds + TOKEN_CLOCK_TOLERANCE_SECONDS;
}
