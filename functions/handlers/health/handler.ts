import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { corsHeaders } from '../../../contracts/cors';
import { FUNCTIONS } from '../../../contracts/functions';
import { header, json, requestIdOf } from '../../edge/http';
import { logger } from '../../observability/logger';
import { buildOpenApiDocument } from './openapi';

const env = FUNCTIONS.health.environment.parse(process.env);

const BODIES: Record<string, unknown> = {
  '/v2/health/live': { live: true },
  '/v2/health/ready': { ready: true },
  // Server metadata: the extensions this API serves of those Triton lists (core's src/server.cc).
  '/v2': {
    name: 'inference-platform',
    version: env.PLATFORM_VERSION,
    extensions: ['classification', 'model_configuration', 'binary_tensor_data', 'parameters'],
  },
};

// Built on the first `GET /openapi.json`, not at module load: most invocations are health probes,
// and converting every schema would only lengthen their cold starts. Built once per container.
let openApiDocument: object | undefined;
function openApi(): object {
  openApiDocument ??= buildOpenApiDocument({ version: env.PLATFORM_VERSION });
  return openApiDocument;
}

/**
 * Public health routes and the OpenAPI document. They touch no other service: an unauthenticated
 * caller must not be able to spend the platform's DynamoDB or SageMaker capacity.
 */
export const handler = middy(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const body =
    event.resource === '/openapi.json'
      ? openApi()
      : (BODIES[event.resource] ?? { status: 'ok', version: env.PLATFORM_VERSION });
  return json(200, body, requestIdOf(event), corsHeaders(env.ALLOWED_ORIGINS, header(event, 'origin')));
}).use(injectLambdaContext(logger, { resetKeys: true }));
