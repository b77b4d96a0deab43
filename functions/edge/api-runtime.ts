import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RateLimitTiersSchema } from '../../contracts/settings';
import * as z from '../../contracts/zod';
import { tracer } from '../observability/tracer';
import { ModelCache } from '../registry/model-cache';
import { ModelRegistry } from '../registry/registry';
import { RateLimiter } from './rate-limiter';

/**
 * What every authenticated API function shares in a container: its environment, parsed once at
 * load (a misconfigured function fails on its first cold start, not on some later request), one
 * DynamoDB client and the rate limiter.
 */
export const apiEnvironment = z
  .object({
    REGISTRY_TABLE_NAME: z.string().check(z.minLength(1)),
    RATE_LIMIT_TABLE_NAME: z.string().check(z.minLength(1)),
    RATE_LIMIT_TIERS: z.pipe(
      z.pipe(
        z.string(),
        z.transform((s: string) => JSON.parse(s) as unknown),
      ),
      RateLimitTiersSchema,
    ),
    ALLOWED_ORIGINS: z.pipe(
      z._default(z.string(), '*'),
      z.transform((s: string) => s.split(',').map((o) => o.trim())),
    ),
    /** How long a container reuses a registry read; the bound on cross-container staleness. */
    REGISTRY_CACHE_TTL_MS: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 5_000),
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
