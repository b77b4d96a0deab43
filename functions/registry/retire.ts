/**
 * Retiring a version's model archive: once a version is deleted or disabled, the archive it names
 * on the platform's multi-model endpoint is removed from the model store, unless another version
 * still needs it. Archives are content-addressed, so versions with the same bytes share one.
 *
 * A retirement and a registration of the same archive meet on one registry item per archive, the
 * archive's mark: the retirement writes it before it looks for versions that name the archive, and
 * a registration reads it after it wrote its version. One of the two therefore sees the other, so
 * an archive is never deleted under a version that was admitted. The full argument is in
 * docs/operations.md ("Retiring model archives").
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, HeadObjectCommand, NotFound, type S3Client } from '@aws-sdk/client-s3';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { REGISTRY_KEYS } from '../../contracts/table-keys';
import { ConflictError } from '../edge/errors';
import { logger } from '../observability/logger';

/** Where the archives of one multi-model endpoint live. */
export interface ArchiveLocation {
  /** The endpoint whose `TargetModel`s are archives of this store. */
  readonly endpointName: string;
  readonly bucket: string;
  /** The key prefix of the endpoint's `ModelDataUrl`, e.g. `models/`. */
  readonly prefix: string;
  /**
   * Archives the deployment copies into the store, which it keeps: its seed registers their
   * versions again, so they are never retired.
   */
  readonly shipped?: readonly string[];
}

/** What one retirement did with each archive the version named. */
export interface RetiredArchive {
  readonly archive: string;
  /**
   * `deleted`; `kept` because a version that is not disabled still names it; `shipped` when the
   * deployment keeps it; `busy` when another retirement of it is under way (which will decide);
   * `failed` when S3 or DynamoDB refused, which leaves the archive in place and is logged.
   */
  readonly outcome: 'deleted' | 'kept' | 'shipped' | 'busy' | 'failed';
}

export interface RetirementLog {
  error(message: string, details: Record<string, unknown>): void;
}

/**
 * A mark older than this belongs to an invocation that is over: no Lambda invocation runs longer
 * than 15 minutes (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
 */
export const ABANDONED_MARK_MS = 15 * 60_000;

const { partitionKey: PK, sortKey: SK } = REGISTRY_KEYS;
const MARK = '#RETIREMENT';
const markKey = (archive: string) => marshall({ [PK]: `ARCHIVE#${archive}`, [SK]: MARK });

interface Mark {
  readonly state: 'RETIRING' | 'RETIRED';
  readonly token: string;
  /** When the mark was last written, in ms since the epoch. */
  readonly at: number;
}

export class ArchiveRetirement {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly tableName: string,
    private readonly s3: S3Client,
    private readonly location: ArchiveLocation,
    /**
     * How long to wait before deleting: the registry cache's TTL, after which no container routes
     * to the retired version any more (requests already at the endpoint run on the loaded model).
     */
    private readonly graceMs: number,
    private readonly log: RetirementLog = logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Removes the archives of a version that was just deleted or disabled, and that no other version
   * needs. Safe to repeat: a second run finds the archive gone or still needed, and deleting a
   * missing key succeeds in S3. Never throws: the registry change it follows has been made.
   */
  async retire(version: Pick<ModelVersion, 'backends'>): Promise<RetiredArchive[]> {
    const shipped = this.location.shipped ?? [];
    const archives = this.archivesOf(version);
    const results: RetiredArchive[] = archives
      .filter((archive) => shipped.includes(archive))
      .map((archive) => ({ archive, outcome: 'shipped' }));
    const retiring = archives.filter((archive) => !shipped.includes(archive));
    if (retiring.length > 0 && this.graceMs > 0) await sleep(this.graceMs);
    for (const archive of retiring) {
      try {
        results.push({ archive, outcome: await this.retireArchive(archive) });
      } catch (error) {
        // The registry change stands; the archive stays in the store until the version is disabled
        // again or another version naming it goes.
        this.log.error('could not retire a model archive', { archive, error: (error as Error).message });
        results.push({ archive, outcome: 'failed' });
      }
    }
    return results;
  }

  /**
   * Called once a version is written: refuses it (409) when an archive it names is being retired,
   * or was retired and not uploaded again. Clears the mark of an archive that is back in the store.
   */
  async admit(version: Pick<ModelVersion, 'backends'>): Promise<void> {
    for (const archive of this.archivesOf(version)) {
      const mark = await this.readMark(archive);
      if (!mark) continue;
      if (mark.state === 'RETIRING' && !this.abandoned(mark)) {
        throw new ConflictError(
          `archive ${archive} is being retired from the model store; register the version again once it is uploaded again`,
        );
      }
      if (!(await this.stored(archive))) {
        throw new ConflictError(
          `archive ${archive} was retired from the model store; upload it again before registering a version that names it`,
        );
      }
      await this.clearMark(archive, mark.token);
    }
  }

  private archivesOf(version: Pick<ModelVersion, 'backends'>): string[] {
    const names = version.backends
      .filter((b) => b.endpointName === this.location.endpointName && b.targetModel !== undefined)
      .map((b) => b.targetModel as string);
    return [...new Set(names)];
  }

  private async retireArchive(archive: string): Promise<RetiredArchive['outcome']> {
    const token = randomUUID();
    if (!(await this.markRetiring(archive, token))) return 'busy';
    if (await this.isNeeded(archive)) {
      await this.clearMark(archive, token);
      return 'kept';
    }
    await this.s3.send(
      new DeleteObjectCommand({ Bucket: this.location.bucket, Key: `${this.location.prefix}${archive}` }),
    );
    await this.dynamodb.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: markKey(archive),
        UpdateExpression: 'SET #state = :retired, #at = :at',
        ConditionExpression: '#token = :token',
        ExpressionAttributeNames: { '#state': 'state', '#at': 'at', '#token': 'token' },
        ExpressionAttributeValues: marshall({ ':retired': 'RETIRED', ':at': this.now(), ':token': token }),
      }),
    );
    return 'deleted';
  }

  /** Takes the archive's mark unless another retirement holds it; false when one does. */
  private async markRetiring(archive: string, token: string): Promise<boolean> {
    const now = this.now();
    try {
      await this.dynamodb.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { ...markKey(archive), ...marshall({ state: 'RETIRING', token, at: now }) },
          ConditionExpression: 'attribute_not_exists(#pk) OR #state = :retired OR #at < :abandoned',
          ExpressionAttributeNames: { '#pk': PK, '#state': 'state', '#at': 'at' },
          ExpressionAttributeValues: marshall({
            ':retired': 'RETIRED',
            ':abandoned': now - ABANDONED_MARK_MS,
          }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async clearMark(archive: string, token: string): Promise<void> {
    try {
      await this.dynamodb.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: markKey(archive),
          ConditionExpression: '#token = :token',
          ExpressionAttributeNames: { '#token': 'token' },
          ExpressionAttributeValues: marshall({ ':token': token }),
        }),
      );
    } catch (error) {
      // Another retirement has taken the mark since: it is its to clear.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private async readMark(archive: string): Promise<Mark | undefined> {
    const { Item } = await this.dynamodb.send(
      new GetItemCommand({ TableName: this.tableName, Key: markKey(archive), ConsistentRead: true }),
    );
    return Item ? (unmarshall(Item) as Mark) : undefined;
  }

  private abandoned(mark: Mark): boolean {
    return mark.at < this.now() - ABANDONED_MARK_MS;
  }

  private async stored(archive: string): Promise<boolean> {
    try {
      await this.s3.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: `${this.location.prefix}${archive}` }),
      );
      return true;
    } catch (error) {
      if (error instanceof NotFound) return false;
      throw error;
    }
  }

  /**
   * Whether a version that is not disabled names the archive on this endpoint. A strongly consistent
   * Scan: references can come from any model, and every version written before it began is seen.
   */
  private async isNeeded(archive: string): Promise<boolean> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.dynamodb.send(
        new ScanCommand({
          TableName: this.tableName,
          ConsistentRead: true,
          FilterExpression: 'begins_with(#sk, :version) AND #status <> :disabled',
          ProjectionExpression: '#backends',
          ExpressionAttributeNames: { '#sk': SK, '#status': 'status', '#backends': 'backends' },
          ExpressionAttributeValues: marshall({ ':version': 'VERSION#', ':disabled': 'DISABLED' }),
          ExclusiveStartKey: startKey as never,
        }),
      );
      for (const item of page.Items ?? []) {
        if (this.archivesOf(unmarshall(item) as Pick<ModelVersion, 'backends'>).includes(archive))
          return true;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return false;
  }
}

/** `s3://<bucket>/<prefix>` split into its bucket and key prefix. */
export function parseStoreUrl(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (!match) throw new Error(`not an s3://<bucket>/<prefix> URL: ${url}`);
  return { bucket: match[1]!, prefix: match[2]! };
}

/** The models function's retirement, from the environment its catalogue entry reads. */
export function archiveRetirement(
  dynamodb: DynamoDBClient,
  s3: S3Client,
  env: {
    REGISTRY_TABLE_NAME: string;
    REGISTRY_CACHE_TTL_MS: number;
    ENDPOINT_NAME: string;
    MODEL_STORE_URL: string;
    SHIPPED_ARCHIVES: readonly string[];
  },
): ArchiveRetirement {
  return new ArchiveRetirement(
    dynamodb,
    env.REGISTRY_TABLE_NAME,
    s3,
    {
      endpointName: env.ENDPOINT_NAME,
      ...parseStoreUrl(env.MODEL_STORE_URL),
      shipped: env.SHIPPED_ARCHIVES,
    },
    env.REGISTRY_CACHE_TTL_MS,
  );
}
