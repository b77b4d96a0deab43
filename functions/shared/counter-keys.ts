/**
 * Attribute names of the counter tables (rate limits, circuit breakers): the CDK construct, the
 * handlers and the local platform share them.
 */
export const COUNTER_KEYS = { partitionKey: 'pk', ttlAttribute: 'expiresAt' } as const;
