import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { corsHeaders } from '../../lib/cors';
import { header, json, requestIdOf } from '../shared/http';
import { logger } from '../shared/observability/logger';

const env = z
  .object({
    PLATFORM_VERSION: z.string().min(1).default('unknown'),
    ALLOWED_ORIGINS: z
      .string()
      .default('*')
      .transform((s) => s.split(',').map((o) => o.trim())),
  })
  .parse(process.env);

const BODIES: Record<string, unknown> = {
  '/v2/health/live': { live: true },
  '/v2/health/ready': { ready: true },
};

/**
 * Public health routes. They touch no other service: an unauthenticated caller must not be able
 * to spend the platform's DynamoDB or SageMaker capacity.
 */
export const handler = middy(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const body = BODIES[event.resource] ?? { status: 'ok', version: env.PLATFORM_VERSION };
  return json(200, body, requestIdOf(event), corsHeaders(env.ALLOWED_ORIGINS, header(event, 'origin')));
}).use(injectLambdaContext(logger, { resetKeys: true }));
