/** Key attribute names of the platform's tables: the CDK constructs, the handlers and the local platform share them. */

/**
 * Registry: each model is one partition (`MODEL#<name>`) holding a header item, its versions and its
 * aliases, so one Query reads a whole model. The sparse `models` index holds only header items and
 * lists the models.
 */
export const REGISTRY_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  modelsIndex: { name: 'models', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
} as const;

/** Counter tables (rate limits, circuit breakers): one item per counter, expired by TTL. */
export const COUNTER_KEYS = { partitionKey: 'pk', ttlAttribute: 'expiresAt' } as const;

/**
 * Batch: each job is one partition (`JOB#<id>`) holding the job item, its chunk inputs and its chunk
 * results. The `byOwner` index lists an owner's jobs, newest first. Every item carries `expiresAt`
 * (epoch seconds), the table's TTL attribute: the retention rule is in docs/batch.md, "Retention".
 */
export const BATCH_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ownerIndex: { name: 'byOwner', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  ttlAttribute: 'expiresAt',
} as const;
