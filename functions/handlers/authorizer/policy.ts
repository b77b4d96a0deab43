import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { ROUTES } from '../../../contracts/routes';
import type { VerifiedPrincipal } from './token-verifier';

/**
 * An IAM policy allowing every route whose scope the principal holds. API Gateway caches the
 * decision per token, so the policy must cover all routes, not just the one being called; a route
 * left out is denied with 403. The context carries the token's `exp`, so that the API edge refuses
 * a cached decision once its token has expired.
 */
export function policyFor(methodArn: string, principal: VerifiedPrincipal): APIGatewayAuthorizerResult {
  // arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}
  const [apiArn, stage] = methodArn.split('/');
  const resources = ROUTES.filter((route) => route.scope && principal.scopes.includes(route.scope)).map(
    (route) => `${apiArn}/${stage}/${route.method}${route.path.replace(/\{[^}]+\}/g, '*')}`,
  );
  return {
    principalId: principal.sub,
    policyDocument: {
      Version: '2012-10-17',
      Statement:
        resources.length > 0
          ? [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: resources }]
          : [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: `${apiArn}/${stage}/*` }],
    },
    // API Gateway hands every context value to the integration as a string.
    context: {
      sub: principal.sub,
      scopes: principal.scopes.join(' '),
      tier: principal.tier,
      exp: String(principal.expiresAt),
    },
  };
}
