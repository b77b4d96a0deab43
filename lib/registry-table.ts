import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type CfnTable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { REGISTRY_KEYS } from '../functions/shared/registry-keys';

export interface RegistryTableProps {
  /**
   * CloudFormation logical id of the table. It is pinned so that moving the construct in the tree
   * never replaces the table (and its data).
   * @default 'RegistryTable'
   */
  readonly logicalId?: string;
}

/**
 * The model registry: one DynamoDB table with a generic `pk`/`sk` key, billed on demand, with
 * point-in-time recovery and AWS-managed encryption. It is retained when the stack is deleted.
 */
export class RegistryTable extends Construct {
  public readonly table: Table;

  constructor(scope: Construct, id: string, props: RegistryTableProps = {}) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: REGISTRY_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: REGISTRY_KEYS.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    (this.table.node.defaultChild as CfnTable).overrideLogicalId(props.logicalId ?? 'RegistryTable');
  }
}
