import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type CfnTable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { COUNTER_KEYS } from '../contracts/table-keys';

export interface CounterTableProps {
  /**
   * CloudFormation logical id of the table. It is pinned so that moving the construct in the tree
   * does not replace the table, which would reset every counter's current window.
   */
  readonly logicalId: string;
}

/**
 * Short-lived operational state: the rate limiter's per-principal window counters and the circuit
 * breakers' failure counters and states. One item per key, keyed by `pk`, billed on demand, with
 * AWS-managed encryption. DynamoDB's TTL deletes window items some time after their window ends;
 * nothing depends on that, since each window has its own item.
 *
 * The data is worth minutes at most, so the table is deleted with the stack and has no point-in-time
 * recovery: restoring counters would only restore budgets and failures that have already reset.
 */
export class CounterTable extends Construct {
  public readonly table: Table;

  constructor(scope: Construct, id: string, props: CounterTableProps) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: COUNTER_KEYS.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: COUNTER_KEYS.ttlAttribute,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    (this.table.node.defaultChild as CfnTable).overrideLogicalId(props.logicalId);
    Validations.of(this.table).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'Counters are only valid for their window (a minute by default); a restore would bring back nothing useful.',
    });
  }
}
