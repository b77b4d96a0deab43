import type { APIGatewayProxyEvent } from 'aws-lambda';
import { SCOPES, type Scope } from '../../contracts/routes';
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
