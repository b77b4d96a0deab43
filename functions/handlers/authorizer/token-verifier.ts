import { errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { SCOPES, type Scope } from '../../../contracts/routes';
import type { Principal } from '../../edge/principal';

export class InvalidTokenError extends Error {}

export interface TokenVerifierOptions {
  /** The HS256 secret, or a JWKS key resolver for RS256/ES256 issuers. */
  readonly key: () => Promise<Uint8Array | JWTVerifyGetKey>;
  /** Accepted `alg` values; never `none`, and never a mix of HMAC and public-key algorithms. */
  readonly algorithms: readonly string[];
  readonly issuer?: string;
  readonly audience?: string;
  /** Allowed clock difference for `exp` and `nbf`. @default 30 */
  readonly clockToleranceSeconds?: number;
}

/** Larger tokens are refused before any parsing; real ones are a few hundred bytes. */
const MAX_TOKEN_LENGTH = 8_192;
const TIER = /^[a-z0-9-]{1,32}$/;
const KNOWN_SCOPES = new Set<string>(SCOPES);

export type TokenVerifier = (token: string) => Promise<Principal>;

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  return async (token) => {
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('token is too large');
    const key = await options.key();
    let payload: JWTPayload;
    try {
      // The two overloads of jwtVerify differ only in the key's type.
      ({ payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms: [...options.algorithms],
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: options.clockToleranceSeconds ?? 30,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      if (error instanceof errors.JOSEError || error instanceof TypeError) {
        throw new InvalidTokenError(`${(error as Error).name}: ${(error as Error).message}`);
      }
      throw error;
    }
    return principalOf(payload);
  };
}

function principalOf(payload: JWTPayload): Principal {
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) {
    throw new InvalidTokenError('sub must be a non-empty string');
  }
  const tier = payload.tier ?? 'standard';
  if (typeof tier !== 'string' || !TIER.test(tier))
    throw new InvalidTokenError('tier must be a short lowercase name');
  return { sub: payload.sub, scopes: scopesOf(payload), tier };
}

/** Scopes from `scope` (space separated, RFC 8693) or `scp` (a list or a string, as Okta and Azure send). */
function scopesOf(payload: JWTPayload): Scope[] {
  const raw = payload.scope ?? payload.scp ?? '';
  const list = typeof raw === 'string' ? raw.split(' ') : Array.isArray(raw) ? raw : undefined;
  if (!list || list.some((s) => typeof s !== 'string')) {
    throw new InvalidTokenError('scope must be a string and scp a string or a list of strings');
  }
  return (list as string[]).filter((s): s is Scope => KNOWN_SCOPES.has(s));
}
