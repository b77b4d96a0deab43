import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { RATE_LIMIT_KEYS } from '../../contracts/settings';
import { CounterTable } from '../../lib/counter-table';
import { nagFindings } from './nag-findings';

describe('CounterTable', () => {
  let template: Template;

  beforeAll(() => {
    const stack = new Stack(new App(), 'Test');
    new CounterTable(stack, 'RateLimits', { logicalId: 'RateLimitTable' });
    template = Template.fromStack(stack);
  });

  it('keys the table on pk alone and bills on demand', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: RATE_LIMIT_KEYS.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: RATE_LIMIT_KEYS.partitionKey, AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('encrypts with the AWS-managed key and expires items by TTL', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      // SSE on with no key of our own: the AWS-managed key (aws/dynamodb).
      SSESpecification: Match.objectEquals({ SSEEnabled: true }),
      TimeToLiveSpecification: { AttributeName: RATE_LIMIT_KEYS.ttlAttribute, Enabled: true },
      PointInTimeRecoverySpecification: Match.absent(),
    });
    template.resourceCountIs('AWS::KMS::Key', 0);
  });

  it('pins the logical id and deletes the counters with the stack', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', UpdateReplacePolicy: 'Delete' });
    expect(Object.keys(template.findResources('AWS::DynamoDB::Table'))).toEqual(['RateLimitTable']);
  });

  it('leaves no unacknowledged cdk-nag AwsSolutions findings', () => {
    const findings = nagFindings((outdir) => {
      const app = new App({ outdir });
      new CounterTable(new Stack(app, 'Nagged'), 'RateLimits', { logicalId: 'RateLimitTable' });
      return app;
    });
    expect(findings).toEqual([]);
  });
});
