import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { ROUTES } from '../../../contracts/routes';
import type { Principal } from '../../edge/principal';

/**
 * An IAM policy allowing every route whose scope the principal holds. API Gateway caches the
 * decision per token, so the policy must cover all routes, not just the one being called; a route
 * left out is denied with 403.
 */
export function policyFor(methodArn: string, principal: Principal): APIGatewayAuthorizerResult {
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
    context: { sub: principal.sub, scopes: principal.scopes.join(' '), tier: principal.tier },
  };
}
