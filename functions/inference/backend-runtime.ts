import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { BACKEND_ENVIRONMENT } from '../../contracts/functions';
import { tracer } from '../observability/tracer';
import { CircuitBreaker } from './circuit-breaker';
import type { InferenceDependencies } from './service';

/**
 * What a function that calls model backends builds once per container from its environment: the
 * SageMaker client (no SDK retries: failover decides), this container's circuit breakers and the
 * time all attempts of one request may take (`BACKEND_TIMEOUT_MS`, else `defaultTimeoutMs`).
 */
export function backendDependencies(
  dynamodb: DynamoDBClient,
  defaultTimeoutMs: number,
): InferenceDependencies {
  const env = BACKEND_ENVIRONMENT.parse(process.env);
  const timeoutMs = env.BACKEND_TIMEOUT_MS ?? defaultTimeoutMs;
  return {
    sagemaker: tracer.captureAWSv3Client(
      new SageMakerRuntimeClient({
        maxAttempts: 1,
        requestHandler: { requestTimeout: timeoutMs, connectionTimeout: 2_000 },
      }),
    ),
    circuits: new CircuitBreaker(dynamodb, env.CIRCUIT_TABLE_NAME, env.CIRCUIT_SETTINGS, randomUUID()),
    timeoutMs,
  };
}
