import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createRemoteJWKSet } from 'jose';
import * as ENV from '../../../contracts/environment-variables';
import { METRIC } from '../../../contracts/metric-catalog';
import { logger } from '../../observability/logger';
import { publishEvent } from '../../observability/metrics';
import { policyFor } from './policy';
import { signingKeysFromExtension } from './signing-key';
import { createTokenVerifier, InvalidTokenError } from './token-verifier';

/**
 * The environment the catalogue declares (contracts/functions.ts), checked at load so a
 * misconfigured authorizer fails its first cold start. By hand rather than with the catalogue's
 * schema: this bundle's size is the first request's latency.
 */
const env = (() => {
  const value = (name: string) => process.env[name] || undefined;
  const read = {
    JWT_SECRET_ARN: value(ENV.JWT_SECRET_ARN),
    JWKS_URL: value(ENV.JWKS_URL),
    JWT_ISSUER: value(ENV.JWT_ISSUER),
    JWT_AUDIENCE: value(ENV.JWT_AUDIENCE),
    JWT_TOKEN_TYPE: value(ENV.JWT_TOKEN_TYPE),
    JWT_TOKEN_USE: value(ENV.JWT_TOKEN_USE),
    AWS_SESSION_TOKEN: value(ENV.AWS_SESSION_TOKEN),
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: value(ENV.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT),
  };
  if (Boolean(read.JWT_SECRET_ARN) === Boolean(read.JWKS_URL)) {
    throw new Error(`set exactly one of ${ENV.JWT_SECRET_ARN} and ${ENV.JWKS_URL}`);
  }
  if (read.JWKS_URL && !URL.canParse(read.JWKS_URL)) throw new Error(`${ENV.JWKS_URL} must be a URL`);
  // An identity provider signs tokens for every client it serves: without both checks, any of them passes.
  if (read.JWKS_URL && !(read.JWT_ISSUER && read.JWT_AUDIENCE)) {
    throw new Error(`${ENV.JWKS_URL} needs ${ENV.JWT_ISSUER} and ${ENV.JWT_AUDIENCE}`);
  }
  if (read.JWT_SECRET_ARN && !read.AWS_SESSION_TOKEN) {
    throw new Error(
      `${ENV.AWS_SESSION_TOKEN} is needed to read ${ENV.JWT_SECRET_ARN} through the secrets extension`,
    );
  }
  const port = Number(read.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? 2773);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`${ENV.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT} must be a port number`);
  }
  return { ...read, extensionPort: port };
})();

const claims = {
  issuer: env.JWT_ISSUER,
  audience: env.JWT_AUDIENCE,
  tokenType: env.JWT_TOKEN_TYPE,
  tokenUse: env.JWT_TOKEN_USE,
};
const verify = env.JWKS_URL ? jwksVerifier(env.JWKS_URL) : hs256Verifier(env.JWT_SECRET_ARN!);

function jwksVerifier(url: string) {
  const jwks = createRemoteJWKSet(new URL(url));
  return createTokenVerifier({ key: async () => jwks, algorithms: ['RS256', 'ES256'], ...claims });
}

/** The key tokens are signed with now, and the one before the last rotation for tokens signed before it. */
function hs256Verifier(secretId: string) {
  const keys = signingKeysFromExtension({
    secretId,
    port: env.extensionPort,
    sessionToken: env.AWS_SESSION_TOKEN!,
  });
  return createTokenVerifier({
    key: keys.current,
    previousKey: keys.previous,
    algorithms: ['HS256'],
    ...claims,
  });
}

/** `Authorization: Bearer <token>`, matched case-insensitively as HTTP requires. */
function bearerToken(headers: APIGatewayRequestAuthorizerEvent['headers']): string | undefined {
  const value = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
  const match = value ? /^Bearer +([^\s]+)\s*$/i.exec(value) : null;
  return match?.[1];
}

/** API Gateway answers 401 when an authorizer fails with exactly this message. */
const UNAUTHORIZED = 'Unauthorized';

/**
 * Fails the invocation so that API Gateway answers 401. Lambda counts the failure among the
 * function's `Errors` like any exception its code throws, so the refusal is counted too (one EMF
 * line, no call out), and the errors alarm subtracts it.
 */
function refuse(): never {
  publishEvent(METRIC.unauthorizedRequests, MetricUnit.Count, 1);
  throw new Error(UNAUTHORIZED);
}

export const handler = middy(
  async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const token = bearerToken(event.headers);
    if (!token) refuse();
    try {
      const principal = await verify(token);
      logger.appendKeys({ principal: principal.sub });
      return policyFor(event.methodArn, principal);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      logger.info('token rejected', { reason: error.message });
      refuse();
    }
  },
).use(injectLambdaContext(logger, { resetKeys: true }));
