import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createRemoteJWKSet } from 'jose';
import * as z from 'zod';
import { logger } from '../shared/observability/logger';
import { policyFor } from './policy';
import { createTokenVerifier, InvalidTokenError } from './token-verifier';

const env = z
  .object({
    /** HS256 mode: the Secrets Manager secret holding the shared signing key. */
    JWT_SECRET_ARN: z.string().min(1).optional(),
    /** OIDC mode: the issuer's JWKS URL (RS256/ES256). */
    JWKS_URL: z.url().optional(),
    JWT_ISSUER: z.string().min(1).optional(),
    JWT_AUDIENCE: z.string().min(1).optional(),
  })
  .refine(
    (e) => Boolean(e.JWT_SECRET_ARN) !== Boolean(e.JWKS_URL),
    'set exactly one of JWT_SECRET_ARN and JWKS_URL',
  )
  .parse(process.env);

/** The signing key is read once per container; a failed read is retried on the next request. */
function secretKey(secretId: string): () => Promise<Uint8Array> {
  const client = new SecretsManagerClient({});
  let pending: Promise<Uint8Array> | undefined;
  return () => {
    pending ??= client.send(new GetSecretValueCommand({ SecretId: secretId })).then(
      ({ SecretString }) => {
        if (!SecretString) throw new Error(`secret ${secretId} has no string value`);
        return new TextEncoder().encode(SecretString);
      },
      (error: unknown) => {
        pending = undefined;
        throw error;
      },
    );
    return pending;
  };
}

const jwks = env.JWKS_URL ? createRemoteJWKSet(new URL(env.JWKS_URL)) : undefined;
const verify = jwks
  ? createTokenVerifier({
      key: async () => jwks,
      algorithms: ['RS256', 'ES256'],
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
    })
  : createTokenVerifier({
      key: secretKey(env.JWT_SECRET_ARN!),
      algorithms: ['HS256'],
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
    });

/** `Authorization: Bearer <token>`, matched case-insensitively as HTTP requires. */
function bearerToken(headers: APIGatewayRequestAuthorizerEvent['headers']): string | undefined {
  const value = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
  const match = value ? /^Bearer +([^\s]+)\s*$/i.exec(value) : null;
  return match?.[1];
}

/** API Gateway answers 401 when an authorizer fails with exactly this message. */
const UNAUTHORIZED = 'Unauthorized';

export const handler = middy(
  async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const token = bearerToken(event.headers);
    if (!token) throw new Error(UNAUTHORIZED);
    try {
      const principal = await verify(token);
      logger.appendKeys({ principal: principal.sub });
      return policyFor(event.methodArn, principal);
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error;
      logger.info('token rejected', { reason: error.message });
      throw new Error(UNAUTHORIZED);
    }
  },
).use(injectLambdaContext(logger, { resetKeys: true }));
