/**
 * Key attribute names of the batch table and its index; the CDK construct, the handlers and the
 * local platform share them. Each job is one partition (`JOB#<id>`) holding the job item, its chunk
 * inputs and its chunk results. The `byOwner` index lists an owner's jobs, newest first.
 */
export const BATCH_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ownerIndex: { name: 'byOwner', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
} as const;
