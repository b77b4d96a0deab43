import { describe, expect, it } from 'vitest';
import { ROUTES, SCOPES, type Scope } from '../../contracts/routes';
import { policyFor } from '../../functions/handlers/authorizer/policy';
import { isAllowed } from '../../local/aws/api-gateway';

const API = 'arn:aws:execute-api:us-east-1:123456789012:abc123/prod';
/** A concrete request ARN for a route, with sample values in its path parameters. */
const arnOf = (method: string, path: string) => `${API}/${method}${path.replace(/\{[^}]+\}/g, 'x-1')}`;

describe('policyFor', () => {
  it.each(SCOPES.map((scope) => [scope]))('allows exactly the routes that need %s', (scope) => {
    // Act
    const policy = policyFor(`${API}/GET/health`, {
      sub: 'alice',
      scopes: [scope as Scope],
      tier: 'standard',
      expiresAt: 2_000_000_000,
    });
    // Assess: evaluated like API Gateway, against every protected route
    for (const route of ROUTES.filter((r) => r.scope)) {
      expect(isAllowed(policy, arnOf(route.method, route.path)), `${route.method} ${route.path}`).toBe(
        route.scope === scope,
      );
    }
  });

  it('denies everything to a principal without scopes', () => {
    const policy = policyFor(`${API}/GET/health`, {
      sub: 'alice',
      scopes: [],
      tier: 'standard',
      expiresAt: 2_000_000_000,
    });
    expect(ROUTES.some((r) => isAllowed(policy, arnOf(r.method, r.path)))).toBe(false);
  });

  it('does not allow another stage or API', () => {
    const policy = policyFor(`${API}/POST/v2/models/simple/infer`, {
      sub: 'a',
      scopes: ['inference:invoke'],
      tier: 'standard',
      expiresAt: 2_000_000_000,
    });
    expect(isAllowed(policy, `${API}/POST/v2/models/simple/infer`)).toBe(true);
    expect(
      isAllowed(policy, 'arn:aws:execute-api:us-east-1:123456789012:other/prod/POST/v2/models/simple/infer'),
    ).toBe(false);
    expect(isAllowed(policy, `${API.replace('/prod', '/dev')}/POST/v2/models/simple/infer`)).toBe(false);
  });

  it("passes the principal and the token's exp to handlers in the context", () => {
    const policy = policyFor(`${API}/GET/health`, {
      sub: 'alice',
      scopes: ['models:read', 'admin'],
      tier: 'gold',
      expiresAt: 1_900_000_000,
    });
    expect(policy.principalId).toBe('alice');
    expect(policy.context).toEqual({
      sub: 'alice',
      scopes: 'models:read admin',
      tier: 'gold',
      exp: '1900000000',
    });
  });
});
