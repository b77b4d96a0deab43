import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { json, requestIdOf } from '../shared/http';
import { logger } from '../shared/observability/logger';

const env = z.object({ PLATFORM_VERSION: z.string().min(1).default('unknown') }).parse(process.env);

/**
 * Public health routes. They touch no other service: an unauthenticated caller must not be able
 * to spend the platform's DynamoDB or SageMaker capacity.
 */
export const handler = middy(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const requestId = requestIdOf(event);
  switch (event.resource) {
    case '/v2/health/live':
      return json(200, { live: true }, requestId);
    case '/v2/health/ready':
      return json(200, { ready: true }, requestId);
    default:
      return json(200, { status: 'ok', version: env.PLATFORM_VERSION }, requestId);
  }
}).use(injectLambdaContext(logger, { resetKeys: true }));
