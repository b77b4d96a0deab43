import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import {
  type Alias,
  AliasSchema,
  type Backend,
  ModelHeaderSchema,
  type ModelSummary,
  type ModelVersion,
  ModelVersionSchema,
} from '../../contracts/registry-schemas';
import { REGISTRY_KEYS } from '../../contracts/table-keys';
import { ConflictError, NotFoundError } from '../edge/errors';
import { decodePageToken, encodePageToken, keyTokenSchema, type Page } from '../edge/page-token';
import type { ArchiveRetirement } from './retire';

/** A model with everything registered under it, read in one Query. */
export interface Model extends ModelSummary {
  readonly versions: readonly ModelVersion[];
  readonly aliases: readonly Alias[];
}

/** Fields of a version that may change after registration; its signature never does. */
export interface VersionPatch {
  readonly status?: ModelVersion['status'];
  readonly statusReason?: string | null;
  readonly backends?: readonly Backend[];
  readonly description?: string | null;
  readonly labels?: Record<string, string> | null;
}

const HEADER = '#MODEL';
const modelKey = (name: string) => `MODEL#${name}`;
const versionKey = (version: string) => `VERSION#${version}`;
const aliasKey = (alias: string) => `ALIAS#${alias}`;
const key = (name: string, sort: string) =>
  marshall({ [REGISTRY_KEYS.partitionKey]: modelKey(name), [REGISTRY_KEYS.sortKey]: sort });
const { partitionKey: PK, sortKey: SK, modelsIndex } = REGISTRY_KEYS;
/**
 * The marshaller tells a plain object from a class instance by its `constructor` property, which a
 * label named `constructor` replaces with a string; every object the registry writes is a map.
 */
const MARSHALL_OPTIONS = { removeUndefinedValues: true, convertClassInstanceToMap: true } as const;
const EXISTS = { ConditionExpression: 'attribute_exists(#pk)', ExpressionAttributeNames: { '#pk': PK } };
const ABSENT = { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': PK } };

/**
 * The registry as the data plane reads it: a whole model in one strongly consistent Query. A class
 * of its own so that the bundles of functions that only read it carry none of the writes, and send
 * only what their role grants (`RegistryTable.bindModelReads`).
 */
export class RegistryReader {
  constructor(
    protected readonly client: DynamoDBClient,
    protected readonly tableName: string,
  ) {}

  /** A model with its versions and aliases, or undefined when nothing is registered under the name. */
  async getModel(name: string): Promise<Model | undefined> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': PK },
          ExpressionAttributeValues: marshall({ ':pk': modelKey(name) }),
          ConsistentRead: true,
          ExclusiveStartKey: startKey as never,
        }),
      );
      items.push(...(page.Items ?? []).map((item) => unmarshall(item)));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    const header = items.find((item) => item[SK] === HEADER);
    const versions = items.filter((item) => String(item[SK]).startsWith('VERSION#'));
    if (!header && versions.length === 0) return undefined;
    return {
      name,
      createdAt: String(header?.createdAt ?? versions[0]?.createdAt),
      versions: sortVersions(versions.map((item) => ModelVersionSchema.parse(item))),
      aliases: items
        .filter((item) => String(item[SK]).startsWith('ALIAS#'))
        .map((item) => AliasSchema.parse(item)),
    };
  }
}

/**
 * The model registry in DynamoDB, as the control plane reads and writes it. Every write is a
 * single-item conditional write (no transactions, so it runs on dynalite as on DynamoDB).
 */
export class ModelRegistry extends RegistryReader {
  constructor(
    client: DynamoDBClient,
    tableName: string,
    /** Removes the archive of a deleted or disabled version that no other version needs. */
    private readonly retirement?: Pick<ArchiveRetirement, 'retire' | 'admit'>,
  ) {
    super(client, tableName);
  }

  /** Models in name order, a page at a time; `nextToken` is opaque to clients. */
  async listModels(limit: number, nextToken?: string): Promise<Page<ModelSummary>> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: modelsIndex.name,
        KeyConditionExpression: '#g = :models',
        ExpressionAttributeNames: { '#g': modelsIndex.partitionKey },
        ExpressionAttributeValues: marshall({ ':models': MODELS_PARTITION }),
        Limit: limit,
        ExclusiveStartKey: nextToken ? decodePageToken(ModelsTokenSchema, nextToken) : undefined,
      }),
    );
    return {
      items: (page.Items ?? []).map((item) => ModelHeaderSchema.parse(unmarshall(item))),
      nextToken: page.LastEvaluatedKey ? encodePageToken(page.LastEvaluatedKey) : undefined,
    };
  }

  async getVersion(name: string, version: string): Promise<ModelVersion | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: key(name, versionKey(version)),
        ConsistentRead: true,
      }),
    );
    return Item ? ModelVersionSchema.parse(unmarshall(Item)) : undefined;
  }

  /**
   * Registers a version; 409 if it exists. The model's header item is written first and only if
   * missing: should the version write then fail, the model simply exists with no versions.
   */
  async putVersion(version: ModelVersion, options: { replace?: boolean } = {}): Promise<ModelVersion> {
    const stored = ModelVersionSchema.parse(version);
    await this.ensureHeader(stored.name, stored.createdAt);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(
            { [PK]: modelKey(stored.name), [SK]: versionKey(stored.version), ...stored },
            MARSHALL_OPTIONS,
          ),
          ...(options.replace ? {} : ABSENT),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConflictError(`model '${stored.name}' version ${stored.version} already exists`);
      }
      throw error;
    }
    await this.admitted(stored, () =>
      this.deleteItem(stored.name, versionKey(stored.version), () =>
        versionNotFound(stored.name, stored.version),
      ),
    );
    return stored;
  }

  /** Applies a partial update; 404 if the version does not exist. */
  async updateVersion(
    name: string,
    version: string,
    patch: VersionPatch,
    now: string,
  ): Promise<ModelVersion> {
    const set: string[] = ['#updatedAt = :updatedAt'];
    const remove: string[] = [];
    const names: Record<string, string> = { '#pk': PK, '#updatedAt': 'updatedAt' };
    const values: Record<string, unknown> = { ':updatedAt': now };
    for (const [field, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      if (value === null) {
        remove.push(`#${field}`);
      } else {
        set.push(`#${field} = :${field}`);
        values[`:${field}`] = value;
      }
    }
    // A warm-up settles a LOADING version only while its first backend is the archive it warms up
    // (functions/registry/warm-up-status.ts): other backends then would leave it LOADING for good.
    const whileWarming = patch.backends !== undefined;
    if (whileWarming) {
      names['#status'] = 'status';
      values[':loading'] = 'LOADING';
    }
    let updated: ModelVersion;
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(name, versionKey(version)),
          UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
          ConditionExpression: `attribute_exists(#pk)${whileWarming ? ' AND #status <> :loading' : ''}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: marshall(values, MARSHALL_OPTIONS),
          ReturnValues: 'ALL_NEW',
        }),
      );
      updated = ModelVersionSchema.parse(unmarshall(Attributes ?? {}));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (whileWarming && (await this.getVersion(name, version))?.status === 'LOADING') {
        throw new ConflictError(
          `model '${name}' version ${version} is LOADING: its backends can change once its warm-up has settled it ACTIVE or FAILED`,
        );
      }
      throw versionNotFound(name, version);
    }
    if (updated.status === 'DISABLED') await this.retirement?.retire(updated);
    else if (patch.status || patch.backends) {
      await this.admitted(updated, () => this.updateVersion(name, version, { status: 'DISABLED' }, now));
    }
    return updated;
  }

  async deleteVersion(name: string, version: string): Promise<void> {
    const deleted = await this.deleteItem(name, versionKey(version), () => versionNotFound(name, version));
    await this.retirement?.retire(ModelVersionSchema.parse(deleted));
  }

  /**
   * Writes an alias. With `replacing`, only over the alias as it was read (`null`: only where there
   * is none), so that a write computed from a read never lands on another write made since: false
   * when one did.
   */
  async putAlias(alias: Alias, replacing?: Pick<Alias, 'updatedAt'> | null): Promise<boolean> {
    const stored = AliasSchema.parse(alias);
    await this.ensureHeader(stored.name, stored.createdAt);
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ [PK]: modelKey(stored.name), [SK]: aliasKey(stored.alias), ...stored }),
          ...(replacing === undefined
            ? {}
            : replacing === null
              ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': PK } }
              : {
                  ConditionExpression: '#updatedAt = :read',
                  ExpressionAttributeNames: { '#updatedAt': 'updatedAt' },
                  ExpressionAttributeValues: marshall({ ':read': replacing.updatedAt }),
                }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.deleteItem(
      name,
      aliasKey(alias),
      () => new NotFoundError(`model '${name}' has no alias '${alias}'`),
    );
  }

  /** A version just written stands only if its archives are not being, or were not, retired. */
  private async admitted(version: ModelVersion, undo: () => Promise<unknown>): Promise<void> {
    try {
      await this.retirement?.admit(version);
    } catch (error) {
      await undo();
      throw error;
    }
  }

  private async ensureHeader(name: string, createdAt: string): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({
            [PK]: modelKey(name),
            [SK]: HEADER,
            [modelsIndex.partitionKey]: MODELS_PARTITION,
            [modelsIndex.sortKey]: name,
            name,
            createdAt,
          }),
          ...ABSENT,
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** Deletes an item that must exist and returns what it held. */
  private async deleteItem(
    name: string,
    sort: string,
    notFound: () => Error,
  ): Promise<Record<string, unknown>> {
    try {
      const { Attributes } = await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: key(name, sort),
          ReturnValues: 'ALL_OLD',
          ...EXISTS,
        }),
      );
      return unmarshall(Attributes ?? {});
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw notFound();
      throw error;
    }
  }
}

export function versionNotFound(name: string, version: string): NotFoundError {
  return new NotFoundError(`model '${name}' has no version '${version}'`);
}

/** Versions in ascending numeric order. */
function sortVersions(versions: ModelVersion[]): ModelVersion[] {
  return versions.sort((a, b) => Number(a.version) - Number(b.version));
}

/** The version served when a client names none: the highest active version. */
export function latestActiveVersion(versions: readonly ModelVersion[]): ModelVersion | undefined {
  return versions.filter((v) => v.status === 'ACTIVE').at(-1);
}

/** The one partition of the models index: every model's header item. */
const MODELS_PARTITION = 'MODELS';
const ModelsTokenSchema = keyTokenSchema([PK, SK, modelsIndex.partitionKey, modelsIndex.sortKey], {
  [modelsIndex.partitionKey]: MODELS_PARTITION,
});
