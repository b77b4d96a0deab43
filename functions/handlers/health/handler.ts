import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { corsHeaders } from '../../../contracts/cors';
import { FUNCTIONS } from '../../../contracts/functions';
import { header, json, requestIdOf } from '../../edge/http';
import { logger } from '../../observability/logger';
import { describeEndpointStatus, EndpointReadiness, SERVING_STATUSES } from './endpoint-status';
import { buildOpenApiDocument } from './openapi';

const env = FUNCTIONS.health.environment.parse(process.env);

const BODIES: Record<string, unknown> = {
  '/v2/health/live': { live: true },
  // Server metadata: the extensions this API serves of those Triton lists (core's src/server.cc).
  '/v2': {
    name: 'inference-platform',
    version: env.PLATFORM_VERSION,
    extensions: ['classification', 'model_configuration', 'binary_tensor_data', 'parameters'],
  },
};

const readiness = new EndpointReadiness(() =>
  describeEndpointStatus(env.ENDPOINT_NAME, AbortSignal.timeout(READ_TIMEOUT_MS)),
);
/** Well under API Gateway's 29 s: a slow control plane makes the platform unready, not the probe hang. */
const READ_TIMEOUT_MS = 3_000;

// Built on the first `GET /openapi.json`, not at module load: most invocations are health probes,
// and converting every schema would only lengthen their cold starts. Built once per container.
let openApiDocument: object | undefined;
function openApi(): object {
  openApiDocument ??= buildOpenApiDocument({ version: env.PLATFORM_VERSION });
  return openApiDocument;
}

/**
 * Ready while the endpoint takes invocations, naming its status when that is not `InService`; any
 * other status, or none readable, is a 503 naming it.
 */
async function ready(): Promise<{ statusCode: number; body: object }> {
  try {
    const endpointStatus = await readiness.status();
    if (!SERVING_STATUSES.has(endpointStatus))
      return { statusCode: 503, body: { ready: false, endpointStatus } };
    return {
      statusCode: 200,
      body: { ready: true, ...(endpointStatus === 'InService' ? {} : { endpointStatus }) },
    };
  } catch (error) {
    logger.warn('endpoint status unreadable', { error: error as Error });
    return { statusCode: 503, body: { ready: false, endpointStatus: 'Unknown' } };
  }
}

/**
 * Public health routes and the OpenAPI document. Only readiness reads another service, the
 * endpoint's status, at most once per container every 15 s (EndpointReadiness), so unauthenticated
 * callers cannot spend the platform's DynamoDB or SageMaker capacity. Liveness reads nothing.
 */
export const handler = middy(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const { statusCode, body } =
    event.resource === '/openapi.json'
      ? { statusCode: 200, body: openApi() }
      : event.resource === '/v2/health/ready'
        ? await ready()
        : {
            statusCode: 200,
            body: BODIES[event.resource] ?? { status: 'ok', version: env.PLATFORM_VERSION },
          };
  return json(
    statusCode,
    body,
    requestIdOf(event),
    corsHeaders(env.ALLOWED_ORIGINS, header(event, 'origin')),
  );
}).use(injectLambdaContext(logger, { resetKeys: true }));
