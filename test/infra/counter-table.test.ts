import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { RATE_LIMIT_KEYS } from '../../functions/shared/rate-limit-config';
import { CounterTable } from '../../lib/counter-table';

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
    // Prepare
    const outdir = mkdtempSync(path.join(tmpdir(), 'rate-limit-table-nag-'));
    const app = new App({ outdir });
    new CounterTable(new Stack(app, 'Nagged'), 'RateLimits', { logicalId: 'RateLimitTable' });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const quietLog = vi.spyOn(console, 'log').mockImplementation(() => undefined);

    // Act
    try {
      app.synth();
    } catch (error) {
      // Findings fail synthesis; the report file is written before the error is thrown.
      if (!(error instanceof Error) || !error.message.includes('validation-report.json')) throw error;
    } finally {
      quiet.mockRestore();
      quietLog.mockRestore();
    }

    // Assess
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations: { ruleName: string }[] }[];
    };
    expect(report.pluginReports.flatMap((plugin) => plugin.violations.map((v) => v.ruleName))).toEqual([]);
  });
});
