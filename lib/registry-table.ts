import { ProjectionType, type Table } from 'aws-cdk-lib/aws-dynamodb';
import { Grant } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import * as ENV from '../contracts/environment-variables';
import { REGISTRY_KEYS } from '../contracts/table-keys';
import { createKeyedTable } from './keyed-table';

export interface RegistryTableProps {
  /**
   * CloudFormation logical id of the table. It is pinned so that moving the construct in the tree
   * never replaces the table (and its data).
   * @default 'RegistryTable'
   */
  readonly logicalId?: string;
}

/**
 * The model registry: one DynamoDB table with a generic `pk`/`sk` key and a sparse index listing
 * the models, billed on demand, with point-in-time recovery and AWS-managed encryption. It is
 * retained when the stack is deleted.
 */
export class RegistryTable extends Construct {
  public readonly table: Table;

  constructor(scope: Construct, id: string, props: RegistryTableProps = {}) {
    super(scope, id);
    this.table = createKeyedTable(this, 'Table', {
      partitionKey: REGISTRY_KEYS.partitionKey,
      sortKey: REGISTRY_KEYS.sortKey,
      index: {
        ...REGISTRY_KEYS.modelsIndex,
        projectionType: ProjectionType.INCLUDE,
        nonKeyAttributes: ['name', 'createdAt'],
      },
      logicalId: props.logicalId ?? 'RegistryTable',
    });
  }

  /**
   * Tells `fn` the table and lets it do what the data plane needs: one Query of a model's partition.
   * Unlike `grantReadData`, it grants nothing on the index, which only the control plane lists.
   */
  public bindModelReads(fn: LambdaFunction): Grant {
    fn.addEnvironment(ENV.REGISTRY_TABLE_NAME, this.table.tableName);
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['dynamodb:Query'],
      resourceArns: [this.table.tableArn],
    });
  }

  /**
   * Tells `fn` the table and lets it do what the control plane's registry (`ModelRegistry`) sends:
   * single-item reads and conditional writes, a model's partition and the list of models on the
   * `models` index. Unlike `grantReadWriteData`: no Scan, no batch or transactional items, no stream.
   */
  public bindRegistryWrites(fn: LambdaFunction): Grant {
    fn.addEnvironment(ENV.REGISTRY_TABLE_NAME, this.table.tableName);
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      resourceArns: [this.table.tableArn],
    }).combine(
      Grant.addToPrincipal({
        grantee: fn,
        actions: ['dynamodb:Query'],
        resourceArns: [this.table.tableArn, `${this.table.tableArn}/index/${REGISTRY_KEYS.modelsIndex.name}`],
      }),
    );
  }
}
