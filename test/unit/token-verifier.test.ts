import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it, vi } from 'vitest';
import { createTokenVerifier, InvalidTokenError } from '../../functions/handlers/authorizer/token-verifier';

const secret = new TextEncoder().encode('a-test-secret-that-is-long-enough-for-hs256');
const now = () => Math.floor(Date.now() / 1000);

function token(claims: Record<string, unknown> = {}, key: Uint8Array = secret) {
  const { exp = now() + 600, sub = 'alice', ...rest } = claims;
  const jwt = new SignJWT({ scope: 'inference:invoke', ...rest }).setProtectedHeader({ alg: 'HS256' });
  if (sub !== null) jwt.setSubject(sub as string);
  if (exp !== null) jwt.setExpirationTime(exp as number);
  return jwt.sign(key);
}

const verify = createTokenVerifier({ key: async () => secret, algorithms: ['HS256'] });

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** The same bytes spelled another way: the last character's unused low bit flipped. */
function lowBitVariant(segment: string): string {
  const last = BASE64URL_ALPHABET.indexOf(segment.at(-1)!);
  return segment.slice(0, -1) + BASE64URL_ALPHABET[last ^ 1];
}
/** Replaces segment `index` (0 header, 1 payload, 2 signature) of a compact JWS. */
function respell(jws: string, index: number, change: (segment: string) => string): string {
  const segments = jws.split('.');
  segments[index] = change(segments[index]!);
  return segments.join('.');
}

describe('createTokenVerifier', () => {
  it('returns the principal of a valid token and its exp', async () => {
    // Prepare
    const exp = now() + 600;
    // Act
    const principal = await verify(await token({ scope: 'inference:invoke models:read', tier: 'gold', exp }));
    // Assess
    expect(principal).toEqual({
      sub: 'alice',
      scopes: ['inference:invoke', 'models:read'],
      tier: 'gold',
      expiresAt: exp,
    });
  });

  it('accepts a subject of well-formed non-ASCII Unicode', async () => {
    await expect(verify(await token({ sub: 'zoë-😀' }))).resolves.toMatchObject({ sub: 'zoë-😀' });
  });

  it('reads scopes from scp as a list and drops unknown scopes', async () => {
    const principal = await verify(await token({ scope: undefined, scp: ['models:read', 'root'] }));
    expect(principal.scopes).toEqual(['models:read']);
  });

  it('defaults the tier to standard', async () => {
    expect((await verify(await token())).tier).toBe('standard');
  });

  it.each([
    ['an expired token', () => token({ exp: now() - 120 })],
    ['a token not valid yet', () => token({ nbf: now() + 600 })],
    ['a token without exp', () => token({ exp: null })],
    ['a token without sub', () => token({ sub: null })],
    [
      'a token signed with another secret',
      () => token({}, new TextEncoder().encode('another-secret-of-enough-length-000000')),
    ],
    [
      'an unsigned token (alg none)',
      async () => new UnsecuredJWT({ sub: 'alice' }).setExpirationTime('1h').encode(),
    ],
    ['a malformed token', async () => 'not.a.jwt'],
    [
      'a tampered payload',
      async () => {
        const [header, , signature] = (await token()).split('.');
        const payload = Buffer.from(
          JSON.stringify({ sub: 'mallory', exp: now() + 600, scope: 'admin' }),
        ).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
    ],
    ['a scope claim of the wrong type', () => token({ scope: 42 })],
    ['a tier with odd characters', () => token({ tier: 'GOLD; drop' })],
    ['an oversized token', async () => `${'a'.repeat(9000)}.b.c`],
    // One signed token must have one spelling (RFC 7515 §2, RFC 4648 §5), or each variant gets its own cache entry.
    ['a signature with = padding appended', async () => `${await token()}=`],
    ['a signature with the unused low bits changed', async () => respell(await token(), 2, lowBitVariant)],
    ['a padded header', async () => respell(await token(), 0, (s) => `${s}=`)],
    ['a payload with the unused low bits changed', async () => respell(await token(), 1, lowBitVariant)],
    [
      'a payload in standard base64 (+ and /)',
      async () => respell(await token({ x: '>>>???' }), 1, (s) => s.replace(/-/g, '+').replace(/_/g, '/')),
    ],
    // Ids built from sub's UTF-8 bytes would merge subjects that differ only in a lone surrogate.
    ['a sub with a lone high surrogate', () => token({ sub: 'alice\uD800' })],
    ['a sub with a lone low surrogate', () => token({ sub: '\uDC00alice' })],
    ['a sub with a newline', () => token({ sub: 'alice\nadmin' })],
    ['a sub with a NUL', () => token({ sub: 'alice\u0000' })],
    ['a sub with a C1 control', () => token({ sub: 'alice\u009b' })],
  ])('rejects %s', async (_case, make) => {
    await expect(verify(await make())).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('spells the low-bit variant with the same bytes, so only the canonical check refuses it', async () => {
    const signature = (await token()).split('.')[2]!;
    expect(lowBitVariant(signature)).not.toBe(signature);
    expect(Buffer.from(lowBitVariant(signature), 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
  });

  it('accepts a token within the clock tolerance after exp', async () => {
    await expect(verify(await token({ exp: now() - 10 }))).resolves.toMatchObject({ sub: 'alice' });
  });

  it('rejects an RS256 token when only HS256 is allowed (no algorithm confusion)', async () => {
    // Prepare
    const { privateKey } = await generateKeyPair('RS256');
    const rs = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256' })
      .setSubject('a')
      .setExpirationTime('1h')
      .sign(privateKey);
    // Act / Assess
    await expect(verify(rs)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('rejects an HS256 token signed with the public key when RS256 is expected', async () => {
    // Prepare: the classic confusion attack uses the public key bytes as an HMAC secret.
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('a')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(JSON.stringify(jwk)));
    const rsVerify = createTokenVerifier({
      key: async () => publicKey as never,
      algorithms: ['RS256', 'ES256'],
    });
    // Act / Assess
    await expect(rsVerify(forged)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('checks iss and aud when configured', async () => {
    const strict = createTokenVerifier({
      key: async () => secret,
      algorithms: ['HS256'],
      issuer: 'https://idp',
      audience: 'api',
    });
    await expect(strict(await token({ iss: 'https://idp', aud: 'api' }))).resolves.toMatchObject({
      sub: 'alice',
    });
    await expect(strict(await token({ iss: 'https://evil', aud: 'api' }))).rejects.toBeInstanceOf(
      InvalidTokenError,
    );
    await expect(strict(await token({ iss: 'https://idp', aud: 'other' }))).rejects.toBeInstanceOf(
      InvalidTokenError,
    );
  });
});

describe('createTokenVerifier token type and use', () => {
  const typed = (typ: string | undefined, claims: Record<string, unknown> = {}) => {
    const jwt = new SignJWT({ scope: 'models:read', ...claims })
      .setProtectedHeader(typ ? { alg: 'HS256', typ } : { alg: 'HS256' })
      .setSubject('alice')
      .setExpirationTime('5m');
    return jwt.sign(secret);
  };

  it('requires the configured typ header, compared as RFC 7515 says (media type, case-insensitive)', async () => {
    // Prepare: RFC 9068 access tokens
    const accessOnly = createTokenVerifier({
      key: async () => secret,
      algorithms: ['HS256'],
      tokenType: 'at+jwt',
    });
    // Act / Assess
    await expect(accessOnly(await typed('at+jwt'))).resolves.toMatchObject({ sub: 'alice' });
    await expect(accessOnly(await typed('application/AT+JWT'))).resolves.toMatchObject({ sub: 'alice' });
    await expect(accessOnly(await typed('JWT'))).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(accessOnly(await typed(undefined))).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it("requires the configured token_use and checks a Cognito access token's client_id as its audience", async () => {
    // Prepare: Cognito access tokens carry client_id, not aud
    const cognito = createTokenVerifier({
      key: async () => secret,
      algorithms: ['HS256'],
      audience: 'app-client-1',
      tokenUse: 'access',
    });
    // Act / Assess
    await expect(
      cognito(await typed(undefined, { token_use: 'access', client_id: 'app-client-1' })),
    ).resolves.toMatchObject({ sub: 'alice' });
    // an ID token for this very client
    await expect(
      cognito(await typed(undefined, { token_use: 'id', aud: 'app-client-1' })),
    ).rejects.toBeInstanceOf(InvalidTokenError);
    // an access token issued to another client of the same pool
    await expect(
      cognito(await typed(undefined, { token_use: 'access', client_id: 'app-client-2' })),
    ).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(cognito(await typed(undefined, { client_id: 'app-client-1' }))).rejects.toBeInstanceOf(
      InvalidTokenError,
    );
  });
});

describe('createTokenVerifier across a key rotation', () => {
  const previous = new TextEncoder().encode('the-key-before-the-last-rotation-0123456789');
  const older = new TextEncoder().encode('a-key-two-rotations-old-000000000000000000000');

  it('accepts a token signed with the previous key, and only after the current key fails', async () => {
    // Prepare
    const previousKey = vi.fn(async () => previous);
    const rotated = createTokenVerifier({ key: async () => secret, previousKey, algorithms: ['HS256'] });
    // Act / Assess
    await expect(rotated(await token())).resolves.toMatchObject({ sub: 'alice' });
    expect(previousKey).not.toHaveBeenCalled();
    await expect(rotated(await token({}, previous))).resolves.toMatchObject({ sub: 'alice' });
    await expect(rotated(await token({}, older))).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('rejects a token signed with another key when the secret was never rotated', async () => {
    const fresh = createTokenVerifier({
      key: async () => secret,
      previousKey: async () => undefined,
      algorithms: ['HS256'],
    });
    await expect(fresh(await token({}, previous))).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('does not try the previous key for a token refused for anything but its signature', async () => {
    const previousKey = vi.fn(async () => previous);
    const rotated = createTokenVerifier({ key: async () => secret, previousKey, algorithms: ['HS256'] });
    await expect(rotated(await token({ exp: now() - 120 }))).rejects.toBeInstanceOf(InvalidTokenError);
    expect(previousKey).not.toHaveBeenCalled();
  });
});
