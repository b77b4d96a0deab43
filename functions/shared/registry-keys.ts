/**
 * Key attribute names of the registry table and its index; the CDK construct, the handlers and the
 * local platform share them. Each model is one partition (`MODEL#<name>`) holding a header item,
 * its versions and its aliases, so one Query reads a whole model. The sparse `models` index holds
 * only header items and lists the models.
 */
export const REGISTRY_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  modelsIndex: { name: 'models', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
} as const;
