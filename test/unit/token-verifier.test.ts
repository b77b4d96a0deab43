import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
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

describe('createTokenVerifier', () => {
  it('returns the principal of a valid token', async () => {
    // Act
    const principal = await verify(await token({ scope: 'inference:invoke models:read', tier: 'gold' }));
    // Assess
    expect(principal).toEqual({ sub: 'alice', scopes: ['inference:invoke', 'models:read'], tier: 'gold' });
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
  ])('rejects %s', async (_case, make) => {
    await expect(verify(await make())).rejects.toBeInstanceOf(InvalidTokenError);
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
