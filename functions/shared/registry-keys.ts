/** Key attribute names of the registry table: the CDK construct, the handlers and the local platform share them. */
export const REGISTRY_KEYS = { partitionKey: 'pk', sortKey: 'sk' } as const;
