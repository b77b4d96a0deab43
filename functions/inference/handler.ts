import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import * as z from 'zod';
import { type ApiRequest, apiHandler } from '../shared/api-handler';
import { apiEnvironment, modelCache, rateLimiter } from '../shared/api-runtime';
import { json, parseJsonBody } from '../shared/http';
import { instrument } from '../shared/observability/instrument';
import { metrics } from '../shared/observability/metrics';
import { tracer } from '../shared/observability/tracer';
import { infer, modelMetadata, resolveTarget } from './inference-service';

const env = z
  .object({
    /** Below API Gateway's 29 s so the client gets our 504, not the gateway's. */
    BACKEND_TIMEOUT_MS: z.coerce.number().int().positive().default(25_000),
  })
  .parse(process.env);

const sagemaker = tracer.captureAWSv3Client(
  new SageMakerRuntimeClient({
    maxAttempts: 1,
    requestHandler: { requestTimeout: env.BACKEND_TIMEOUT_MS, connectionTimeout: 2_000 },
  }),
);

async function route({ event, requestId }: ApiRequest) {
  const { model = '', version } = event.pathParameters ?? {};
  const target = await resolveTarget(modelCache, model, version, requestId);
  const versionHeader = { 'X-Model-Version': target.version.version };
  if (event.resource.endsWith('/ready')) {
    return json(200, { name: model, version: target.version.version, ready: true }, requestId, versionHeader);
  }
  if (event.httpMethod === 'GET') {
    return json(200, modelMetadata(target, version !== undefined), requestId, versionHeader);
  }
  const started = performance.now();
  const response = await infer({ sagemaker }, target.version, parseJsonBody(event));
  metrics.addDimension('model', target.model.name);
  metrics.addMetric('InferenceLatency', MetricUnit.Milliseconds, performance.now() - started);
  return json(200, response, requestId, versionHeader);
}

export const handler = instrument(
  apiHandler(route, { errorStyle: 'inference', allowedOrigins: apiEnvironment.ALLOWED_ORIGINS, rateLimiter }),
);
