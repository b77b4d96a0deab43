import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type CfnTable,
  type ProjectionType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';

export interface KeyedTableOptions {
  readonly partitionKey: string;
  readonly sortKey: string;
  /** The table's one global secondary index, string keys. */
  readonly index: {
    readonly name: string;
    readonly partitionKey: string;
    readonly sortKey: string;
    readonly projectionType: ProjectionType;
    /** With `ProjectionType.INCLUDE`. @default - none */
    readonly nonKeyAttributes?: string[];
  };
  /** Pinned, so that moving the construct in the tree never replaces the table and its data. */
  readonly logicalId: string;
}

/**
 * The platform's durable tables (registry, batch jobs): string `pk`/`sk` keys and one index,
 * on-demand billing, point-in-time recovery, AWS-managed encryption, retained with the stack.
 */
export function createKeyedTable(scope: Construct, id: string, options: KeyedTableOptions): Table {
  const table = new Table(scope, id, {
    partitionKey: { name: options.partitionKey, type: AttributeType.STRING },
    sortKey: { name: options.sortKey, type: AttributeType.STRING },
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: TableEncryption.AWS_MANAGED,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const { index } = options;
  table.addGlobalSecondaryIndex({
    indexName: index.name,
    partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
    sortKey: { name: index.sortKey, type: AttributeType.STRING },
    projectionType: index.projectionType,
    nonKeyAttributes: index.nonKeyAttributes,
  });
  (table.node.defaultChild as CfnTable).overrideLogicalId(options.logicalId);
  return table;
}
