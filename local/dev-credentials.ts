import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { SCOPES } from '../contracts/routes';
import { readLocalConfig } from './local-config';

/** Where the local platform keeps its state; ignored by git. */
export const LOCAL_DIR = fileURLToPath(new URL('../.local/', import.meta.url));
const SECRET_FILE = `${LOCAL_DIR}jwt-secret`;

/** The local HS256 signing secret, created once so tokens keep working across restarts. */
export function devSigningSecret(): string {
  try {
    return readFileSync(SECRET_FILE, 'utf8').trim();
  } catch {
    mkdirSync(LOCAL_DIR, { recursive: true });
    const secret = randomBytes(48).toString('base64url');
    // 'wx' fails if another process created it first; then read theirs.
    try {
      writeFileSync(SECRET_FILE, `${secret}\n`, { mode: 0o600, flag: 'wx' });
      return secret;
    } catch {
      return readFileSync(SECRET_FILE, 'utf8').trim();
    }
  }
}

export interface DevTokenOptions {
  /** @default 'dev' */
  readonly sub?: string;
  /** Space-separated scopes. @default every scope */
  readonly scope?: string;
  /** @default 'standard' */
  readonly tier?: string;
  /** @default 3600 */
  readonly expiresInSeconds?: number;
  readonly issuer?: string;
  readonly audience?: string;
  /** The `typ` header, when the platform requires one (`jwtTokenType`). @default 'JWT' */
  readonly tokenType?: string;
  /** The `token_use` claim, when the platform requires one (`jwtTokenUse`). */
  readonly tokenUse?: string;
}

/** A token the local platform's authorizer accepts. */
export async function devToken(options: DevTokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({
    scope: options.scope ?? SCOPES.join(' '),
    tier: options.tier ?? 'standard',
    ...(options.tokenUse ? { token_use: options.tokenUse } : {}),
  })
    .setProtectedHeader({ alg: 'HS256', typ: options.tokenType ?? 'JWT' })
    .setSubject(options.sub ?? 'dev')
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600));
  if (options.issuer) jwt.setIssuer(options.issuer);
  if (options.audience) jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(devSigningSecret()));
}

/**
 * What `npm run token` prints: a token with the issuer, audience and token type the local
 * configuration (cdk.json with `LOCAL_CONTEXT`) requires.
 */
export function platformToken(
  options: Pick<DevTokenOptions, 'sub' | 'scope' | 'tier' | 'expiresInSeconds'> = {},
): Promise<string> {
  const config = readLocalConfig();
  return devToken({
    ...options,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    tokenType: config.jwtTokenType,
    tokenUse: config.jwtTokenUse,
  });
}
