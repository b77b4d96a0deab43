import { type CfnTable, ProjectionType, type Table } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import * as ENV from '../contracts/environment-variables';
import { BATCH_KEYS } from '../contracts/table-keys';
import { createKeyedTable } from './keyed-table';

export interface BatchTableProps {
  /** Days a finished job and its data are kept (`batchRetentionDays`), told to every bound function. */
  readonly retentionDays: number;
  /**
   * CloudFormation logical id of the table. It is pinned so that moving the construct in the tree
   * never replaces the table (and every job with its results).
   * @default 'BatchTable'
   */
  readonly logicalId?: string;
}

/**
 * What `BatchStore` sends on items by key: reads, puts of jobs, chunks and results, and conditional
 * updates of a job's counters and status. Nothing is batched.
 */
const ITEM_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];

/**
 * The batch store: jobs, their chunks and results in one DynamoDB table with a generic `pk`/`sk`
 * key and a `byOwner` index listing each principal's jobs, billed on demand, with point-in-time
 * recovery and AWS-managed encryption. It is retained when the stack is deleted; its items expire by
 * TTL (`BATCH_KEYS.ttlAttribute`).
 */
export class BatchTable extends Construct {
  public readonly table: Table;
  private readonly retentionSeconds: number;

  constructor(scope: Construct, id: string, props: BatchTableProps) {
    super(scope, id);
    this.table = createKeyedTable(this, 'Table', {
      partitionKey: BATCH_KEYS.partitionKey,
      sortKey: BATCH_KEYS.sortKey,
      // Listing reads the job fields from the index.
      index: { ...BATCH_KEYS.ownerIndex, projectionType: ProjectionType.ALL },
      logicalId: props.logicalId ?? 'BatchTable',
    });
    // Expired jobs and their data go by TTL (docs/batch.md, "Retention").
    (this.table.node.defaultChild as CfnTable).timeToLiveSpecification = {
      attributeName: BATCH_KEYS.ttlAttribute,
      enabled: true,
    };
    this.retentionSeconds = props.retentionDays * 86_400;
  }

  /**
   * Tells `fn` the table and lets it do what the queue functions need (`BatchStore`): read and write
   * jobs, chunks and results by key. They list and delete nothing.
   */
  public bindItemReadWrites(fn: LambdaFunction): Grant {
    this.tell(fn);
    return this.grantItems(fn, ITEM_ACTIONS);
  }

  /**
   * Tells `fn` the table and lets it do what the batch API needs (`BatchApiStore`): submit jobs,
   * read them by key, delete a job's items, list a job's results (Query on the table) and a
   * principal's jobs (Query on `byOwner`).
   */
  public bindJobReadWrites(fn: LambdaFunction): Grant {
    this.tell(fn);
    return this.grantItems(fn, [...ITEM_ACTIONS, 'dynamodb:DeleteItem']).combine(
      Grant.addToPrincipal({
        grantee: fn,
        actions: ['dynamodb:Query'],
        resourceArns: [this.table.tableArn, `${this.table.tableArn}/index/${BATCH_KEYS.ownerIndex.name}`],
      }),
    );
  }

  /** The table and the retention that every write's expiry is computed from. */
  private tell(fn: LambdaFunction): void {
    fn.addEnvironment(ENV.BATCH_TABLE_NAME, this.table.tableName);
    fn.addEnvironment(ENV.BATCH_RETENTION_SECONDS, String(this.retentionSeconds));
  }

  private grantItems(grantee: IGrantable, actions: string[]): Grant {
    return Grant.addToPrincipal({ grantee, actions, resourceArns: [this.table.tableArn] });
  }
}
