import { type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { BATCH_KEYS } from '../../contracts/table-keys';
import type { BatchJob } from '../../functions/batch/api-schemas';
import { toJob } from '../../functions/batch/batch-store';
import { ModelRegistry } from '../../functions/registry/registry';

/** A model as the console shows it: versions with their backends, aliases with their weights. */
export interface ConsoleModel {
  readonly name: string;
  readonly createdAt: string;
  readonly versions: readonly {
    readonly version: string;
    readonly status: string;
    readonly platform: string;
    readonly maxBatchSize: number;
    readonly inputs: readonly string[];
    readonly outputs: readonly string[];
    readonly backends: readonly { readonly endpointName: string; readonly weight: number }[];
    readonly description?: string;
  }[];
  readonly aliases: readonly {
    readonly alias: string;
    readonly routes: readonly { readonly version: string; readonly weight: number }[];
  }[];
}

export type ConsoleJob = BatchJob;

const MAX_MODELS = 200;

/** Every registered model (up to MAX_MODELS), in name order. */
export async function listModels(client: DynamoDBClient, tableName: string): Promise<ConsoleModel[]> {
  const registry = new ModelRegistry(client, tableName);
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await registry.listModels(100, nextToken);
    names.push(...page.items.map((m) => m.name));
    nextToken = page.nextToken;
  } while (nextToken && names.length < MAX_MODELS);
  const models = await Promise.all(names.slice(0, MAX_MODELS).map((name) => registry.getModel(name)));
  return models.flatMap((model) =>
    model
      ? [
          {
            name: model.name,
            createdAt: model.createdAt,
            versions: model.versions.map((v) => ({
              version: v.version,
              status: v.status,
              platform: v.platform,
              maxBatchSize: v.maxBatchSize,
              inputs: v.inputs.map((t) => `${t.name} ${t.datatype} [${t.shape.join(',')}]`),
              outputs: v.outputs.map((t) => `${t.name} ${t.datatype} [${t.shape.join(',')}]`),
              backends: v.backends.map((b) => ({ endpointName: b.endpointName, weight: b.weight })),
              ...(v.description ? { description: v.description } : {}),
            })),
            aliases: model.aliases.map((a) => ({ alias: a.alias, routes: a.routes })),
          },
        ]
      : [],
  );
}

/**
 * Jobs of every owner, newest first, at most `limit`. The owner index holds only job items (no
 * chunk inputs or results), so scanning it stays cheap however large the jobs are.
 */
export async function listJobs(
  client: DynamoDBClient,
  tableName: string,
  limit: number,
): Promise<ConsoleJob[]> {
  const jobs: ConsoleJob[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        IndexName: BATCH_KEYS.ownerIndex.name,
        ExclusiveStartKey: startKey as never,
      }),
    );
    for (const item of page.Items ?? []) {
      jobs.push(toJob(unmarshall(item)));
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return jobs
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
    .slice(0, limit);
}
