import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { CircuitSettingsSchema } from '../../contracts/settings';
import * as z from '../../contracts/zod';
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
  const env = z
    .object({
      BACKEND_TIMEOUT_MS: z._default(z.coerce.number().check(z.int(), z.positive()), defaultTimeoutMs),
      CIRCUIT_TABLE_NAME: z.string().check(z.minLength(1)),
      CIRCUIT_SETTINGS: z.pipe(
        z.pipe(
          z.string(),
          z.transform((s: string) => JSON.parse(s) as unknown),
        ),
        CircuitSettingsSchema,
      ),
    })
    .parse(process.env);
  return {
    sagemaker: tracer.captureAWSv3Client(
      new SageMakerRuntimeClient({
        maxAttempts: 1,
        requestHandler: { requestTimeout: env.BACKEND_TIMEOUT_MS, connectionTimeout: 2_000 },
      }),
    ),
    circuits: new CircuitBreaker(dynamodb, env.CIRCUIT_TABLE_NAME, env.CIRCUIT_SETTINGS, randomUUID()),
    timeoutMs: env.BACKEND_TIMEOUT_MS,
  };
}
