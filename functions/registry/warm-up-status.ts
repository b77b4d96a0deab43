import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { type ModelVersion, ModelVersionSchema } from '../../contracts/registry-schemas';
import { REGISTRY_KEYS } from '../../contracts/table-keys';

const { partitionKey: PK, sortKey: SK } = REGISTRY_KEYS;
const key = (name: string, version: string) =>
  marshall({ [PK]: `MODEL#${name}`, [SK]: `VERSION#${version}` });

/**
 * What the warm-up reads and writes of the registry: one version, and the one status change that
 * ends its warm-up. A class of its own so that the warm-up's bundle sends, and its role allows,
 * GetItem and UpdateItem alone.
 */
export class WarmUpStatus {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async get(name: string, version: string): Promise<ModelVersion | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: key(name, version), ConsistentRead: true }),
    );
    return Item ? ModelVersionSchema.parse(unmarshall(Item)) : undefined;
  }

  /**
   * Ends a warm-up: ACTIVE, or FAILED with the reason. Only a version still LOADING on the archive
   * that was warmed changes; false when it was disabled, deleted or given another archive meanwhile.
   */
  async settle(
    version: Pick<ModelVersion, 'name' | 'version'>,
    archive: string,
    outcome: { status: 'ACTIVE' } | { status: 'FAILED'; reason: string },
    now: string,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(version.name, version.version),
          UpdateExpression:
            outcome.status === 'FAILED'
              ? 'SET #status = :status, #updatedAt = :now, #reason = :reason'
              : 'SET #status = :status, #updatedAt = :now REMOVE #reason',
          ConditionExpression: '#status = :loading AND #backends[0].#targetModel = :archive',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#updatedAt': 'updatedAt',
            '#reason': 'statusReason',
            '#backends': 'backends',
            '#targetModel': 'targetModel',
          },
          ExpressionAttributeValues: marshall({
            ':status': outcome.status,
            ':now': now,
            ':loading': 'LOADING',
            ':archive': archive,
            ...(outcome.status === 'FAILED' ? { ':reason': outcome.reason.slice(0, 2048) } : {}),
          }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
