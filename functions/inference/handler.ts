import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from 'zod';
import { errorResponse, json, parseJsonBody, requestIdOf } from '../shared/http';
import { logger } from '../shared/observability/logger';
import { metrics } from '../shared/observability/metrics';
import { tracer } from '../shared/observability/tracer';
import { ModelRegistry } from '../shared/registry';
import { infer, modelMetadata, resolveModelVersion } from './inference-service';

const env = z
  .object({
    REGISTRY_TABLE_NAME: z.string().min(1),
    /** Below API Gateway's 29 s so the client gets our 504, not the gateway's. */
    BACKEND_TIMEOUT_MS: z.coerce.number().int().positive().default(25_000),
  })
  .parse(process.env);

const registry = new ModelRegistry(
  tracer.captureAWSv3Client(new DynamoDBClient({})),
  env.REGISTRY_TABLE_NAME,
);
const sagemaker = tracer.captureAWSv3Client(
  new SageMakerRuntimeClient({
    maxAttempts: 1,
    requestHandler: { requestTimeout: env.BACKEND_TIMEOUT_MS, connectionTimeout: 2_000 },
  }),
);

async function route(event: APIGatewayProxyEvent, requestId: string): Promise<APIGatewayProxyResult> {
  const { model = '', version } = event.pathParameters ?? {};
  const resolved = await resolveModelVersion(registry, model, version);
  const versionHeader = { 'X-Model-Version': resolved.version };
  if (event.resource.endsWith('/ready'))
    return json(200, { name: model, version: resolved.version, ready: true }, requestId);
  if (event.httpMethod === 'GET') return json(200, modelMetadata(resolved), requestId, versionHeader);

  const started = performance.now();
  const response = await infer({ registry, sagemaker }, resolved, parseJsonBody(event));
  metrics.addDimension('model', resolved.name);
  metrics.addMetric('InferenceLatency', MetricUnit.Milliseconds, performance.now() - started);
  return json(200, response, requestId, versionHeader);
}

export const handler = middy(async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
  const requestId = requestIdOf(event);
  logger.appendKeys({ requestId, model: event.pathParameters?.model });
  try {
    return await route(event, requestId);
  } catch (error) {
    metrics.addMetric('InferenceErrors', MetricUnit.Count, 1);
    return errorResponse(error, requestId, 'inference');
  }
})
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
