import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { API_ENVIRONMENT } from '../../contracts/functions';
import { tracer } from '../observability/tracer';
import { ModelCache } from '../registry/model-cache';
import { RegistryReader } from '../registry/registry';
import { RateLimiter } from './rate-limiter';

/**
 * What every authenticated API function shares in a container: its environment, parsed once at
 * load (a misconfigured function fails on its first cold start, not on some later request), one
 * DynamoDB client and the rate limiter.
 */
export const apiEnvironment = API_ENVIRONMENT.parse(process.env);

export const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));

/** One cache per container, shared by every handler in it, so a write there is seen there at once. */
export const modelCache = new ModelCache(new RegistryReader(dynamodb, apiEnvironment.REGISTRY_TABLE_NAME), {
  ttlMs: apiEnvironment.REGISTRY_CACHE_TTL_MS,
});

export const rateLimiter = new RateLimiter(
  dynamodb,
  apiEnvironment.RATE_LIMIT_TABLE_NAME,
  apiEnvironment.RATE_LIMIT_TIERS,
);
