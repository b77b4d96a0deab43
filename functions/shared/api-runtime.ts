import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';
import { ModelCache } from './model-cache';
import { tracer } from './observability/tracer';
import { RateLimitTiersSchema } from './rate-limit-config';
import { RateLimiter } from './rate-limiter';
import { ModelRegistry } from './registry';

/**
 * What every authenticated API function shares in a container: its environment, parsed once at
 * load (a misconfigured function fails on its first cold start, not on some later request), one
 * DynamoDB client and the rate limiter.
 */
export const apiEnvironment = z
  .object({
    REGISTRY_TABLE_NAME: z.string().min(1),
    RATE_LIMIT_TABLE_NAME: z.string().min(1),
    RATE_LIMIT_TIERS: z
      .string()
      .transform((s) => JSON.parse(s) as unknown)
      .pipe(RateLimitTiersSchema),
    ALLOWED_ORIGINS: z
      .string()
      .default('*')
      .transform((s) => s.split(',').map((o) => o.trim())),
    /** How long a container reuses a registry read; the bound on cross-container staleness. */
    REGISTRY_CACHE_TTL_MS: z.coerce.number().int().min(0).default(5_000),
  })
  .parse(process.env);

export const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));

export const registry = new ModelRegistry(dynamodb, apiEnvironment.REGISTRY_TABLE_NAME);

/** One cache per container, shared by every handler in it, so a write there is seen there at once. */
export const modelCache = new ModelCache(registry, { ttlMs: apiEnvironment.REGISTRY_CACHE_TTL_MS });

export const rateLimiter = new RateLimiter(
  dynamodb,
  apiEnvironment.RATE_LIMIT_TABLE_NAME,
  apiEnvironment.RATE_LIMIT_TIERS,
);
