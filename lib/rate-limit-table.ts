import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type CfnTable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { RATE_LIMIT_KEYS } from '../functions/shared/rate-limit-config';

export interface RateLimitTableProps {
  /**
   * CloudFormation logical id of the table. It is pinned so that moving the construct in the tree
   * does not replace the table, which would reset every principal's current window.
   * @default 'RateLimitTable'
   */
  readonly logicalId?: string;
}

/**
 * Per-principal request counters: one item per principal per fixed window, keyed by `pk`, billed on
 * demand, with AWS-managed encryption. DynamoDB's TTL deletes items some time after their window
 * ends; the limiter never depends on that, since each window has its own item.
 *
 * The data lives for one window, so the table is deleted with the stack and has no point-in-time
 * recovery: restoring counters would only restore spent budgets that have already reset.
 */
export class RateLimitTable extends Construct {
  public readonly table: Table;

  constructor(scope: Construct, id: string, props: RateLimitTableProps = {}) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: RATE_LIMIT_KEYS.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: RATE_LIMIT_KEYS.ttlAttribute,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    (this.table.node.defaultChild as CfnTable).overrideLogicalId(props.logicalId ?? 'RateLimitTable');
    Validations.of(this.table).acknowledge({
      id: 'AwsSolutions-DDB3',
      reason:
        'Counters are only valid for their window (a minute by default); a restore would bring back nothing useful.',
    });
  }
}
