import { errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { SCOPES, type Scope } from '../../../contracts/routes';
import { TOKEN_CLOCK_TOLERANCE_SECONDS } from '../../../contracts/tokens';
import type { Principal } from '../../edge/principal';

export class InvalidTokenError extends Error {}

export interface TokenVerifierOptions {
  /** The HS256 secret (AWSCURRENT), or a JWKS key resolver for RS256/ES256 issuers. */
  readonly key: () => Promise<Uint8Array | JWTVerifyGetKey>;
  /**
   * The HS256 secret before the last rotation (AWSPREVIOUS), tried only when the current key's
   * signature check fails, so tokens signed just before a rotation keep working; undefined when the
   * secret was never rotated.
   */
  readonly previousKey?: () => Promise<Uint8Array | undefined>;
  /** Accepted `alg` values; never `none`, and never a mix of HMAC and public-key algorithms. */
  readonly algorithms: readonly string[];
  readonly issuer?: string;
  /** Checked against `aud`, or against `client_id` when `tokenUse` is `access` (Cognito access tokens have no `aud`). */
  readonly audience?: string;
  /** The `typ` header a token must carry (`at+jwt` for RFC 9068 access tokens), compared as RFC 7515 §4.1.9 says. */
  readonly tokenType?: string;
  /** The `token_use` claim a token must carry (Amazon Cognito: `access` or `id`). */
  readonly tokenUse?: string;
  /** Allowed clock difference for `exp` and `nbf`. @default TOKEN_CLOCK_TOLERANCE_SECONDS */
  readonly clockToleranceSeconds?: number;
}

/** A verified token's principal and its `exp` (seconds since the epoch), which the API edge enforces. */
export interface VerifiedPrincipal extends Principal {
  readonly expiresAt: number;
}

/** Larger tokens are refused before any parsing; real ones are a few hundred bytes. */
const MAX_TOKEN_LENGTH = 8_192;
const TIER = /^[a-z0-9-]{1,32}$/;
const KNOWN_SCOPES = new Set<string>(SCOPES);
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Lone surrogates (not well-formed Unicode) and control characters (C0, DEL, C1). */
const MALFORMED_SUBJECT = /[\p{Cs}\p{Cc}]/u;

export type TokenVerifier = (token: string) => Promise<VerifiedPrincipal>;

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const audienceClaim = options.tokenUse === 'access' ? 'client_id' : 'aud';
  const verifyWith = async (token: string, key: Uint8Array | JWTVerifyGetKey) =>
    // The two overloads of jwtVerify differ only in the key's type.
    (
      await jwtVerify(token, key as Uint8Array, {
        algorithms: [...options.algorithms],
        issuer: options.issuer,
        audience: audienceClaim === 'aud' ? options.audience : undefined,
        typ: options.tokenType,
        clockTolerance: options.clockToleranceSeconds ?? TOKEN_CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'sub'],
      })
    ).payload;

  return async (token) => {
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('token is too large');
    assertCanonicalSegments(token);
    let payload: JWTPayload;
    try {
      try {
        payload = await verifyWith(token, await options.key());
      } catch (error) {
        const previous =
          error instanceof errors.JWSSignatureVerificationFailed ? await options.previousKey?.() : undefined;
        if (!previous) throw error;
        payload = await verifyWith(token, previous);
      }
    } catch (error) {
      if (error instanceof errors.JOSEError || error instanceof TypeError) {
        throw new InvalidTokenError(`${(error as Error).name}: ${(error as Error).message}`);
      }
      throw error;
    }
    if (options.tokenUse !== undefined && payload.token_use !== options.tokenUse) {
      throw new InvalidTokenError(`token_use must be ${options.tokenUse}`);
    }
    if (audienceClaim === 'client_id' && options.audience !== undefined) {
      if (payload.client_id !== options.audience) throw new InvalidTokenError('client_id is not this API');
    }
    return { ...principalOf(payload), expiresAt: payload.exp as number };
  };
}

/**
 * A JWS segment has exactly one base64url form (RFC 7515 §2: unpadded, RFC 4648 §5), but decoders
 * also take `=` padding and ignore the unused low bits of the last character. Without this check one
 * signed token has many spellings, each its own API Gateway cache entry and each missed by an
 * exact-string denylist. Canonical means decoding and encoding again gives the same text.
 */
function assertCanonicalSegments(token: string): void {
  const segments = token.split('.');
  if (segments.length !== 3) throw new InvalidTokenError('a JWT has three segments');
  for (const segment of segments) {
    if (!BASE64URL.test(segment) || Buffer.from(segment, 'base64url').toString('base64url') !== segment) {
      throw new InvalidTokenError('token segments must be unpadded canonical base64url');
    }
  }
}

function principalOf(payload: JWTPayload): Principal {
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) {
    throw new InvalidTokenError('sub must be a non-empty string');
  }
  // Ids derived from sub are built from its UTF-8 bytes, which turn every lone surrogate into
  // U+FFFD: two subjects that differ only there would be one principal.
  if (MALFORMED_SUBJECT.test(payload.sub)) {
    throw new InvalidTokenError('sub must be well-formed Unicode without control characters');
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
