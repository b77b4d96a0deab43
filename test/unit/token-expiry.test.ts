import { describe, expect, it } from 'vitest';
import { TOKEN_CLOCK_TOLERANCE_SECONDS } from '../../contracts/tokens';
import { authorizationExpired } from '../../functions/edge/principal';
import { proxyEvent } from '../helpers/events';

const NOW_MS = 1_800_000_000_000;
const NOW = NOW_MS / 1000;

/** Whether the edge takes a request as expired, with the authorizer's context as API Gateway hands it on. */
function expiredWith(exp: unknown): boolean {
  const authorizer = { sub: 'alice', scopes: 'inference:invoke', tier: 'standard', exp };
  return authorizationExpired(proxyEvent({ resource: '/v2', path: '/v2', authorizer }), NOW_MS);
}

describe('authorizationExpired', () => {
  // A NumericDate is any JSON number of seconds, fractions allowed (RFC 7519, section 2): the
  // authorizer accepts such a token, so the edge must not refuse it as expired.
  it.each([
    ['whole seconds ahead', String(NOW + 3600)],
    ['a fraction of a second', String(NOW + 3600.5)],
    ['a date centuries ahead', String(1e13)],
    ['a number in exponent form', '1e+21'],
    ['within the clock tolerance', String(NOW - TOKEN_CLOCK_TOLERANCE_SECONDS + 1)],
  ])('lets a token with exp %s through', (_, exp) => {
    expect(expiredWith(exp)).toBe(false);
  });

  it.each([
    ['past the clock tolerance', String(NOW - TOKEN_CLOCK_TOLERANCE_SECONDS - 1)],
    ['a fraction past it', String(NOW - TOKEN_CLOCK_TOLERANCE_SECONDS - 0.5)],
    ['missing', undefined],
    ['empty', ''],
    ['not a number', 'soon'],
    ['infinite', 'Infinity'],
  ])('refuses a token whose exp is %s', (_, exp) => {
    expect(expiredWith(exp)).toBe(true);
  });
});
