import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import * as z from 'zod';
import { DATATYPES } from './model-signature';
import { REGISTRY_KEYS } from './registry-keys';

export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const MODEL_VERSION = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;

const TensorSignatureSchema = z.object({
  name: z.string().min(1).max(128),
  datatype: z.enum(DATATYPES),
  shape: z.array(z.number().int().min(-1)).max(16).readonly(),
});

/** Where a version is served: a SageMaker endpoint (and variant, and model on multi-model endpoints). */
export const BackendSchema = z.object({
  endpointName: z.string().regex(/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/),
  variant: z.string().min(1).max(63).optional(),
  targetModel: z.string().min(1).max(1024).optional(),
  weight: z.number().int().min(1).max(100).default(100),
});
export type Backend = z.infer<typeof BackendSchema>;

export const ModelVersionSchema = z.object({
  name: z.string().regex(MODEL_NAME),
  version: z.string().regex(MODEL_VERSION),
  platform: z.string().min(1).max(64),
  inputs: z.array(TensorSignatureSchema).min(1).readonly(),
  outputs: z.array(TensorSignatureSchema).min(1).readonly(),
  maxBatchSize: z.number().int().min(0),
  backends: z.array(BackendSchema).min(1),
  status: z.enum(['ACTIVE', 'DISABLED']),
  description: z.string().max(1024).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ModelVersion = z.infer<typeof ModelVersionSchema>;

export class ModelVersionExistsError extends Error {}

const modelKey = (name: string) => `MODEL#${name}`;
const versionKey = (version: string) => `VERSION#${version}`;

/** Model versions in DynamoDB: one item per version under the model's partition. */
export class ModelRegistry {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async getVersion(name: string, version: string): Promise<ModelVersion | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: marshall({
          [REGISTRY_KEYS.partitionKey]: modelKey(name),
          [REGISTRY_KEYS.sortKey]: versionKey(version),
        }),
      }),
    );
    return Item ? ModelVersionSchema.parse(unmarshall(Item)) : undefined;
  }

  /** Every version of a model (one Query; a model has far fewer versions than a page holds). */
  async listVersions(name: string): Promise<ModelVersion[]> {
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :version)',
        ExpressionAttributeNames: { '#pk': REGISTRY_KEYS.partitionKey, '#sk': REGISTRY_KEYS.sortKey },
        ExpressionAttributeValues: marshall({ ':pk': modelKey(name), ':version': 'VERSION#' }),
      }),
    );
    return Items.map((item) => ModelVersionSchema.parse(unmarshall(item)));
  }

  /** Registers a version; fails with ModelVersionExistsError unless `replace` is set. */
  async putVersion(version: ModelVersion, options: { replace?: boolean } = {}): Promise<void> {
    const item = {
      [REGISTRY_KEYS.partitionKey]: modelKey(version.name),
      [REGISTRY_KEYS.sortKey]: versionKey(version.version),
      ...ModelVersionSchema.parse(version),
    };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(item, { removeUndefinedValues: true }),
          ...(options.replace
            ? {}
            : {
                ConditionExpression: 'attribute_not_exists(#pk)',
                ExpressionAttributeNames: { '#pk': REGISTRY_KEYS.partitionKey },
              }),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ModelVersionExistsError(`model ${version.name} version ${version.version} already exists`);
      }
      throw error;
    }
  }
}

/** The version served when a client names none: the highest active version, numerically where numeric. */
export function latestActiveVersion(versions: readonly ModelVersion[]): ModelVersion | undefined {
  const compare = new Intl.Collator('en', { numeric: true }).compare;
  return versions.filter((v) => v.status === 'ACTIVE').sort((a, b) => compare(b.version, a.version))[0];
}
