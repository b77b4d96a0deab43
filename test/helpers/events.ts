import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import * as ENV from '../../contracts/environment-variables';
import type { FUNCTIONS } from '../../contracts/functions';
import type * as z from '../../contracts/zod';

/** A REST API proxy event as API Gateway sends it for a route of the route table. */
export function proxyEvent(overrides: {
  resource: string;
  path: string;
  httpMethod?: string;
  pathParameters?: Record<string, string>;
  body?: unknown;
  headers?: Record<string, string>;
  authorizer?: Record<string, unknown>;
}): APIGatewayProxyEvent {
  const body =
    overrides.body === undefined
      ? null
      : typeof overrides.body === 'string'
        ? overrides.body
        : JSON.stringify(overrides.body);
  return {
    resource: overrides.resource,
    path: overrides.path,
    httpMethod: overrides.httpMethod ?? 'GET',
    headers: overrides.headers ?? {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: overrides.pathParameters ?? null,
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      stage: 'prod',
      requestId: 'gateway-request-id',
      requestTimeEpoch: 0,
      httpMethod: overrides.httpMethod ?? 'GET',
      path: `/prod${overrides.path}`,
      protocol: 'HTTP/1.1',
      resourceId: 'resource',
      resourcePath: overrides.resource,
      authorizer: overrides.authorizer ?? {
        sub: 'alice',
        scopes: 'inference:invoke models:read',
        tier: 'standard',
        exp: String(Math.floor(Date.now() / 1000) + 3600),
      },
      identity: { sourceIp: '127.0.0.1' },
    } as APIGatewayProxyEvent['requestContext'],
  };
}

export function lambdaContext(functionName = 'test'): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: 'lambda-request-id',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The environment the stack gives the inference function (`FUNCTIONS.inference`), with test values. */
export const INFERENCE_FUNCTION_ENV = {
  ...({
    [ENV.REGISTRY_TABLE_NAME]: 'registry',
    [ENV.RATE_LIMIT_TABLE_NAME]: 'rate-limits',
    [ENV.RATE_LIMIT_TIERS]: JSON.stringify({ standard: { limit: 100, windowSeconds: 60 } }),
    [ENV.ALLOWED_ORIGINS]: 'https://app.example.com',
    [ENV.CIRCUIT_TABLE_NAME]: 'circuits',
    [ENV.CIRCUIT_SETTINGS]: JSON.stringify({
      failureThreshold: 3,
      windowSeconds: 30,
      cooldownSeconds: 30,
      probeTimeoutSeconds: 30,
      cacheTtlMs: 0,
    }),
  } satisfies z.input<(typeof FUNCTIONS)['inference']['environment']>),
  AWS_REGION: 'us-east-1',
  POWERTOOLS_METRICS_NAMESPACE: 'Test',
};
