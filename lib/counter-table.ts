import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type CfnTable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { Grant } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import * as ENV from '../contracts/environment-variables';
import type { CircuitSettings, RateLimitTiers } from '../contracts/settings';
import { COUNTER_KEYS } from '../contracts/table-keys';

export interface CounterTableProps {
  /**
   * CloudFormation logical id of the table. It is pinned so that moving the construct in the tree
   * does not replace the table, which would reset every counter's current window.
   */
  readonly logicalId: string;
}

/**
 * Short-lived operational state: the rate limiter's per-principal window counters (the budget
 * leased so far in each window) and the circuit
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

export interface RateLimitTableProps {
  /** The tiers the limiter enforces (`RATE_LIMIT_TIERS`). */
  readonly tiers: RateLimitTiers;
  /** @default 'RateLimitTable' */
  readonly logicalId?: string;
}

/** The counters of the per-principal rate limit that every function behind the authorizer applies. */
export class RateLimitTable extends CounterTable {
  private readonly tiers: RateLimitTiers;

  constructor(scope: Construct, id: string, props: RateLimitTableProps) {
    super(scope, id, { logicalId: props.logicalId ?? 'RateLimitTable' });
    this.tiers = props.tiers;
  }

  /**
   * Tells `fn` the table and the tiers, and lets it do what the limiter does: conditional
   * UpdateItems that lease blocks of a window's budget, and nothing else.
   */
  public bindLimiter(fn: LambdaFunction): Grant {
    fn.addEnvironment(ENV.RATE_LIMIT_TABLE_NAME, this.table.tableName);
    fn.addEnvironment(ENV.RATE_LIMIT_TIERS, JSON.stringify(this.tiers));
    return this.table.grant(fn, 'dynamodb:UpdateItem');
  }
}

export interface CircuitTableProps {
  /** Settings of the circuit breakers (`CIRCUIT_SETTINGS`). */
  readonly settings: CircuitSettings;
  /** @default 'CircuitTable' */
  readonly logicalId?: string;
}

/** The circuit breakers of the model backends, shared by every function that calls them. */
export class CircuitTable extends CounterTable {
  private readonly settings: CircuitSettings;

  constructor(scope: Construct, id: string, props: CircuitTableProps) {
    super(scope, id, { logicalId: props.logicalId ?? 'CircuitTable' });
    this.settings = props.settings;
  }

  /**
   * Tells `fn` the table and the settings, and lets it keep circuits: reads through a short cache,
   * writes only on failures and on a probe's outcome.
   */
  public bindCircuits(fn: LambdaFunction): Grant {
    fn.addEnvironment(ENV.CIRCUIT_TABLE_NAME, this.table.tableName);
    fn.addEnvironment(ENV.CIRCUIT_SETTINGS, JSON.stringify(this.settings));
    return this.table.grant(fn, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
  }
}
