import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { Grant } from 'aws-cdk-lib/aws-iam';
import { beforeAll, describe, expect, it } from 'vitest';
import { BATCH_KEYS } from '../../contracts/table-keys';
import { BatchPipeline, type BatchPipelineProps } from '../../lib/batch-pipeline';
import { BatchTable } from '../../lib/batch-table';
import { circuitSettingsOf, parsePlatformConfig } from '../../lib/config';
import { CircuitTable } from '../../lib/counter-table';
import { RegistryTable } from '../../lib/registry-table';
import { synthesizePlatform } from './platform-app';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

const actionsOf = (s: Statement) => [s.Action].flat();
const resourcesOf = (s: Statement) => [s.Resource].flat();

/** The one logical id of a resource type that starts with `prefix` (construct path without the hash). */
function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

const QUEUES = {
  submissions: 'BatchSubmissionsQueue',
  submissionsDeadLetters: 'BatchSubmissionsDeadLetterQueue',
  work: 'BatchWorkQueue',
  workDeadLetters: 'BatchWorkDeadLetterQueue',
} as const;

const queueId = (template: Template, queue: keyof typeof QUEUES) =>
  logicalId(template, 'AWS::SQS::Queue', QUEUES[queue]);

const functionId = (template: Template, prefix: string) =>
  logicalId(template, 'AWS::Lambda::Function', prefix);

function propertiesOf(template: Template, id: string): Record<string, unknown> {
  return template.toJSON().Resources[id].Properties;
}

/** The statements of the default policy attached to a function's role. */
function statementsOf(template: Template, fnId: string): Statement[] {
  const roleId = (propertiesOf(template, fnId).Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0];
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
    p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId),
  );
  expect(policies).toHaveLength(1);
  return policies[0]!.Properties.PolicyDocument.Statement;
}

const statementsFor = (statements: Statement[], service: string) =>
  statements.filter((s) => actionsOf(s).some((a) => a.startsWith(`${service}:`)));

describe('BatchPipeline', () => {
  let template: Template;

  beforeAll(() => {
    ({ template } = synthesizePlatform());
  });

  describe('queues', () => {
    it('creates a queue and a dead-letter queue for submissions and for work, all SQS-encrypted', () => {
      expect(batchResources(template, 'AWS::SQS::Queue')).toHaveLength(4);
      for (const queue of Object.keys(QUEUES) as (keyof typeof QUEUES)[]) {
        expect(propertiesOf(template, queueId(template, queue))).toMatchObject({
          SqsManagedSseEnabled: true,
        });
      }
    });

    it.each(Object.keys(QUEUES) as (keyof typeof QUEUES)[])('denies %s requests without TLS', (queue) => {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queueId(template, queue) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Principal: { AWS: '*' },
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    });

    it('redrives each queue to its own dead-letter queue after the configured receives', () => {
      for (const [queue, deadLetters] of [
        ['submissions', 'submissionsDeadLetters'],
        ['work', 'workDeadLetters'],
      ] as const) {
        expect(propertiesOf(template, queueId(template, queue)).RedrivePolicy).toEqual({
          deadLetterTargetArn: { 'Fn::GetAtt': [queueId(template, deadLetters), 'Arn'] },
          maxReceiveCount: 5,
        });
      }
    });

    it('keeps dead letters for 14 days and redrives them nowhere', () => {
      for (const queue of ['submissionsDeadLetters', 'workDeadLetters'] as const) {
        const properties = propertiesOf(template, queueId(template, queue));
        expect(properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
        expect(properties.RedrivePolicy).toBeUndefined();
      }
    });

    it('hides a received message for six times the timeout of the function that consumes it', () => {
      const timeoutOf = (prefix: string) => propertiesOf(template, functionId(template, prefix)).Timeout;
      expect(timeoutOf('BatchFanOutFunction')).toBe(300);
      expect(timeoutOf('BatchWorkerFunction')).toBe(120);
      expect(propertiesOf(template, queueId(template, 'submissions')).VisibilityTimeout).toBe(6 * 300);
      expect(propertiesOf(template, queueId(template, 'work')).VisibilityTimeout).toBe(6 * 120);
    });

    it('follows the configured worker timeout and receive count', () => {
      const { template: configured } = synthesizePlatform({
        batchWorkerTimeoutSeconds: '300',
        batchMaxReceiveCount: '7',
      });

      expect(propertiesOf(configured, functionId(configured, 'BatchWorkerFunction')).Timeout).toBe(300);
      expect(propertiesOf(configured, queueId(configured, 'work'))).toMatchObject({
        VisibilityTimeout: 1800,
        RedrivePolicy: { maxReceiveCount: 7 },
      });
      expect(propertiesOf(configured, queueId(configured, 'submissions'))).toMatchObject({
        RedrivePolicy: { maxReceiveCount: 7 },
      });
    });
  });

  describe('event sources', () => {
    it('feeds the fan-out function ten submissions at a time with partial batch failures', () => {
      expect(batchResources(template, 'AWS::Lambda::EventSourceMapping')).toHaveLength(4);
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queueId(template, 'submissions'), 'Arn'] },
        FunctionName: { Ref: functionId(template, 'BatchFanOutFunction') },
        BatchSize: 10,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: Match.absent(),
      });
    });

    it('feeds the worker one chunk at a time at bounded concurrency with partial batch failures', () => {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queueId(template, 'work'), 'Arn'] },
        FunctionName: { Ref: functionId(template, 'BatchWorkerFunction') },
        BatchSize: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 4 },
      });
    });

    it.each(['submissionsDeadLetters', 'workDeadLetters'] as const)(
      'feeds the %s queue to the dead-letter function with partial batch failures',
      (queue) => {
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          EventSourceArn: { 'Fn::GetAtt': [queueId(template, queue), 'Arn'] },
          FunctionName: { Ref: functionId(template, 'BatchDeadLettersFunction') },
          BatchSize: 10,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        });
        // Lambda refuses a queue whose visibility timeout is shorter than the function's timeout.
        expect(propertiesOf(template, queueId(template, queue))).toMatchObject({ VisibilityTimeout: 360 });
        expect(propertiesOf(template, functionId(template, 'BatchDeadLettersFunction'))).toMatchObject({
          Timeout: 60,
        });
      },
    );

    it('tells the dead-letter function its table, the work dead-letter queue and the receive count', () => {
      const deadLetters = functionId(template, 'BatchDeadLettersFunction');
      expect(
        (propertiesOf(template, deadLetters).Environment as { Variables: unknown }).Variables,
      ).toMatchObject({
        BATCH_TABLE_NAME: { Ref: 'BatchTable' },
        WORK_DEAD_LETTER_QUEUE_ARN: { 'Fn::GetAtt': [queueId(template, 'workDeadLetters'), 'Arn'] },
        WORK_MAX_RECEIVE_COUNT: '5',
      });
    });

    it('follows the configured worker concurrency and batch size', () => {
      const { template: configured } = synthesizePlatform({
        batchWorkerConcurrency: '16',
        batchWorkerBatchSize: '2',
      });

      configured.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [queueId(configured, 'work'), 'Arn'] },
        BatchSize: 2,
        ScalingConfig: { MaximumConcurrency: 16 },
      });
    });
  });

  describe('functions', () => {
    it('tells the fan-out function its table, the registry and the work queue', () => {
      const fanOut = functionId(template, 'BatchFanOutFunction');
      expect((propertiesOf(template, fanOut).Environment as { Variables: unknown }).Variables).toMatchObject({
        BATCH_TABLE_NAME: { Ref: 'BatchTable' },
        REGISTRY_TABLE_NAME: { Ref: 'RegistryTable' },
        WORK_QUEUE_URL: { Ref: queueId(template, 'work') },
      });
    });

    it('tells the worker its tables, work queue, circuit settings, outage budget and backend timeout', () => {
      const worker = functionId(template, 'BatchWorkerFunction');
      const variables = (propertiesOf(template, worker).Environment as { Variables: Record<string, unknown> })
        .Variables;
      expect(variables).toMatchObject({
        BATCH_TABLE_NAME: { Ref: 'BatchTable' },
        REGISTRY_TABLE_NAME: { Ref: 'RegistryTable' },
        CIRCUIT_TABLE_NAME: { Ref: 'CircuitTable' },
        WORK_QUEUE_URL: { Ref: queueId(template, 'work') },
        BATCH_OUTAGE_BUDGET_SECONDS: '900',
        BACKEND_TIMEOUT_MS: '61000',
      });
      expect(JSON.parse(variables.CIRCUIT_SETTINGS as string)).toEqual({
        failureThreshold: 5,
        windowSeconds: 30,
        cooldownSeconds: 30,
        probeTimeoutSeconds: 30,
        cacheTtlMs: 1000,
      });
    });

    it('lets the fan-out function send only to the two batch queues and consume only submissions', () => {
      const statements = statementsOf(template, functionId(template, 'BatchFanOutFunction'));
      const sqs = statementsFor(statements, 'sqs');
      expect(sqs).toEqual(
        expect.arrayContaining([
          // Work to the work queue; each running job's stall check to the submissions queue.
          {
            Action: 'sqs:SendMessage',
            Effect: 'Allow',
            Resource: [
              { 'Fn::GetAtt': [queueId(template, 'submissions'), 'Arn'] },
              { 'Fn::GetAtt': [queueId(template, 'work'), 'Arn'] },
            ],
          },
          // What Lambda's poller needs, and ChangeMessageVisibility for a failed submission's backoff.
          {
            Action: [
              'sqs:ChangeMessageVisibility',
              'sqs:DeleteMessage',
              'sqs:GetQueueAttributes',
              'sqs:ReceiveMessage',
            ],
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [queueId(template, 'submissions'), 'Arn'] },
          },
        ]),
      );
      expect(sqs).toHaveLength(2);
      expect(statementsFor(statements, 'sagemaker')).toEqual([]);
    });

    it('lets the worker invoke only the Triton endpoint and consume and defer to only the work queue', () => {
      const statements = statementsOf(template, functionId(template, 'BatchWorkerFunction'));
      const endpointName = template.findResources('AWS::SageMaker::Endpoint');
      const [endpoint] = Object.values(endpointName);
      expect(statementsFor(statements, 'sagemaker')).toEqual([
        {
          Action: 'sagemaker:InvokeEndpoint',
          Effect: 'Allow',
          Resource: {
            'Fn::Join': [
              '',
              [
                'arn:aws:sagemaker:us-east-1:',
                { Ref: 'AWS::AccountId' },
                `:endpoint/${String(endpoint!.Properties.EndpointName).toLowerCase()}`,
              ],
            ],
          },
        },
      ]);
      const sqs = statementsFor(statements, 'sqs');
      const work = { 'Fn::GetAtt': [queueId(template, 'work'), 'Arn'] };
      expect(sqs.every((s) => JSON.stringify(s.Resource) === JSON.stringify(work))).toBe(true);
      // A chunk deferred for a model outage is sent again to the work queue, and nowhere else.
      expect(sqs.flatMap(actionsOf)).toContain('sqs:SendMessage');
    });

    const ITEMS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
    it.each([
      // The queue functions list and delete nothing: only the batch API builds BatchApiStore.
      ['fan-out function', 'BatchFanOutFunction', ['BatchTable', 'RegistryTable'], ITEMS],
      ['worker', 'BatchWorkerFunction', ['BatchTable', 'RegistryTable', 'CircuitTable'], ITEMS],
      ['dead-letters function', 'BatchDeadLettersFunction', ['BatchTable'], ITEMS],
    ])('scopes the %s to the items of its tables, never an index', (_, prefix, tables, batchActions) => {
      const dynamo = statementsFor(statementsOf(template, functionId(template, prefix)), 'dynamodb');
      expect(dynamo.map((s) => s.Resource)).toEqual(
        expect.arrayContaining(tables.map((table) => ({ 'Fn::GetAtt': [table, 'Arn'] }))),
      );
      expect(dynamo).toHaveLength(tables.length);
      expect(JSON.stringify(dynamo)).not.toContain('/index/');
      const registry = dynamo.find((s) => JSON.stringify(s.Resource).includes('RegistryTable'));
      if (tables.includes('RegistryTable')) expect(registry?.Action).toBe('dynamodb:Query');
      // What BatchStore sends by key: no batches or transactions.
      const batch = dynamo.find((s) => JSON.stringify(s.Resource).includes('BatchTable'));
      expect(batch?.Action).toEqual(batchActions);
    });

    it('gives the worker the circuit access of the inference function', () => {
      const dynamo = statementsFor(
        statementsOf(template, functionId(template, 'BatchWorkerFunction')),
        'dynamodb',
      );
      expect(dynamo).toContainEqual({
        Action: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': ['CircuitTable', 'Arn'] },
      });
    });

    it('grants no wildcard actions to either function', () => {
      for (const prefix of ['BatchFanOutFunction', 'BatchWorkerFunction']) {
        for (const statement of statementsOf(template, functionId(template, prefix))) {
          for (const action of actionsOf(statement)) expect(action).not.toContain('*');
        }
      }
    });
  });

  it('lets the batch API function read and write jobs, list them by owner and submit them', () => {
    const batchApi = functionId(template, 'ApiBatchFunction');
    expect((propertiesOf(template, batchApi).Environment as { Variables: unknown }).Variables).toMatchObject({
      BATCH_TABLE_NAME: { Ref: 'BatchTable' },
      SUBMISSIONS_QUEUE_URL: { Ref: queueId(template, 'submissions') },
      REGISTRY_TABLE_NAME: { Ref: 'RegistryTable' },
      RATE_LIMIT_TABLE_NAME: { Ref: 'RateLimitTable' },
      ALLOWED_ORIGINS: '*',
    });
    const statements = statementsOf(template, batchApi);
    expect(statementsFor(statements, 'sqs')).toEqual([
      {
        Action: 'sqs:SendMessage',
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [queueId(template, 'submissions'), 'Arn'] },
      },
    ]);
    const dynamo = statementsFor(statements, 'dynamodb');
    const ownerIndex = { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['BatchTable', 'Arn'] }, '/index/byOwner']] };
    // Policy minimization may merge the index's Query with the registry's into one statement.
    const onIndex = dynamo.filter((s) =>
      resourcesOf(s).some((r) => JSON.stringify(r) === JSON.stringify(ownerIndex)),
    );
    expect(onIndex.map(actionsOf)).toEqual([['dynamodb:Query']]);
    expect(
      dynamo.filter((s) => resourcesOf(s).some((r) => JSON.stringify(r).includes('BatchTable'))),
    ).toContainEqual({
      Action: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': ['BatchTable', 'Arn'] },
    });
    expect(statementsFor(statements, 'sagemaker')).toEqual([]);
  });

  describe('alarms', () => {
    it('alarms on a message that stays in either dead-letter queue five minutes, in flight or not, notifying the alarm topic', () => {
      // The dead-letter function returns a message it cannot record as a batch item failure: it is
      // in flight for the visibility timeout and visible only for a moment between receives.
      for (const queue of ['submissionsDeadLetters', 'workDeadLetters'] as const) {
        const queueName = { 'Fn::GetAtt': [queueId(template, queue), 'QueueName'] };
        const maximum = (id: string, metricName: string) => ({
          Id: id,
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/SQS',
              MetricName: metricName,
              Dimensions: [{ Name: 'QueueName', Value: queueName }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        });
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Metrics: [
            Match.objectLike({ Expression: 'visible + inFlight', ReturnData: true }),
            maximum('visible', 'ApproximateNumberOfMessagesVisible'),
            maximum('inFlight', 'ApproximateNumberOfMessagesNotVisible'),
          ],
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          EvaluationPeriods: 5,
          DatapointsToAlarm: 5,
          TreatMissingData: 'notBreaching',
          AlarmActions: [{ Ref: logicalId(template, 'AWS::SNS::Topic', 'AlarmsTopic') }],
        });
      }
    });

    it('alarms when the oldest message of either queue is older than the configured age', () => {
      for (const queue of ['submissions', 'work'] as const) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/SQS',
          MetricName: 'ApproximateAgeOfOldestMessage',
          Dimensions: [
            { Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId(template, queue), 'QueueName'] } },
          ],
          Statistic: 'Maximum',
          Period: 60,
          Threshold: 900,
          ComparisonOperator: 'GreaterThanThreshold',
          AlarmActions: [{ Ref: logicalId(template, 'AWS::SNS::Topic', 'AlarmsTopic') }],
        });
      }
      const sqsAlarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(
        ([id, alarm]) => id.startsWith('Batch') && JSON.stringify(alarm).includes('"AWS/SQS"'),
      );
      expect(sqsAlarms).toHaveLength(4);
    });

    it('exposes the four queue alarms and the stalled-jobs alarm, and follows the configured age', () => {
      const { stack, template: configured } = synthesizePlatform({
        batchOldestMessageAgeAlarmSeconds: '120',
      });

      expect(stack.batch.alarms).toHaveLength(5);
      configured.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'InferencePlatform',
        MetricName: 'BatchJobsStalled',
        Dimensions: [{ Name: 'service', Value: 'batch-fan-out' }],
        Statistic: 'Sum',
        Threshold: 1,
      });
      expect(stack.batch.alarms).toEqual(
        expect.arrayContaining([
          stack.batch.submissions.deadLetterAlarm,
          stack.batch.submissions.oldestMessageAlarm,
          stack.batch.work.deadLetterAlarm,
          stack.batch.work.oldestMessageAlarm,
        ]),
      );
      configured.resourcePropertiesCountIs(
        'AWS::CloudWatch::Alarm',
        { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 120 },
        2,
      );
    });
  });

  describe('table', () => {
    it('keys on pk/sk strings with a byOwner index projecting all attributes', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        KeySchema: [
          { AttributeName: BATCH_KEYS.partitionKey, KeyType: 'HASH' },
          { AttributeName: BATCH_KEYS.sortKey, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'byOwner',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      });
    });

    it('bills on demand with point-in-time recovery and AWS-managed encryption, and is retained', () => {
      expect(template.toJSON().Resources.BatchTable).toMatchObject({
        Type: 'AWS::DynamoDB::Table',
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true },
        },
      });
      expect(template.toJSON().Resources.BatchTable.Properties.SSESpecification).toEqual({
        SSEEnabled: true,
      });
    });
  });

  it('outputs the table name and the URLs of all four queues', () => {
    template.hasOutput('BatchTableName', { Value: { Ref: 'BatchTable' } });
    template.hasOutput('BatchSubmissionsQueueUrl', { Value: { Ref: queueId(template, 'submissions') } });
    template.hasOutput('BatchSubmissionsDeadLetterQueueUrl', {
      Value: { Ref: queueId(template, 'submissionsDeadLetters') },
    });
    template.hasOutput('BatchWorkQueueUrl', { Value: { Ref: queueId(template, 'work') } });
    template.hasOutput('BatchWorkDeadLetterQueueUrl', {
      Value: { Ref: queueId(template, 'workDeadLetters') },
    });
  });
});

describe('batch configuration', () => {
  it('defaults to five receives, four workers of one chunk, 120 s per worker and a 15-minute age alarm', () => {
    expect(parsePlatformConfig({})).toMatchObject({
      batchMaxReceiveCount: 5,
      batchWorkerConcurrency: 4,
      batchWorkerBatchSize: 1,
      batchWorkerTimeoutSeconds: 120,
      batchOldestMessageAgeAlarmSeconds: 900,
    });
  });

  it.each([
    ['batchMaxReceiveCount', '0'],
    ['batchMaxReceiveCount', '4'],
    ['batchMaxReceiveCount', 1001],
    ['batchWorkerConcurrency', '1'],
    ['batchWorkerConcurrency', 1001],
    ['batchWorkerConcurrency', 2.5],
    ['batchWorkerBatchSize', '0'],
    ['batchWorkerBatchSize', '11'],
    ['batchWorkerTimeoutSeconds', '60'],
    ['batchWorkerTimeoutSeconds', 901],
    ['batchOldestMessageAgeAlarmSeconds', '59'],
    ['batchOldestMessageAgeAlarmSeconds', 'soon'],
  ])('rejects %s = %j', (key, value) => {
    expect(() => parsePlatformConfig({ [key]: value })).toThrow(new RegExp(`${key}: `));
  });

  it('says why a receive count below 5 is refused, with the guidance it follows', () => {
    expect(() => parsePlatformConfig({ batchMaxReceiveCount: 3 })).toThrow(
      /batchMaxReceiveCount: must be at least 5: Lambda recommends .*operatorguide\/sqs-retries\.html/,
    );
  });
});

describe('BatchPipeline validation', () => {
  const newPipeline = (overrides: Partial<BatchPipelineProps>) => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Batch');
    return new BatchPipeline(stack, 'Batch', {
      table: new BatchTable(stack, 'BatchJobs', { retentionDays: 30 }),
      registry: new RegistryTable(stack, 'Registry'),
      circuits: new CircuitTable(stack, 'Circuits', { settings: circuitSettingsOf(parsePlatformConfig({})) }),
      endpoint: { bindInvoker: (fn) => Grant.drop(fn, 'sagemaker:InvokeEndpoint') },
      maxReceiveCount: 3,
      workerConcurrency: 4,
      workerBatchSize: 5,
      workerTimeout: Duration.seconds(120),
      outageBudget: Duration.minutes(15),
      stallTimeout: Duration.hours(2),
      oldestMessageAgeThreshold: Duration.minutes(15),
      ...overrides,
    });
  };

  it('builds with valid settings', () => {
    expect(newPipeline({}).alarms).toHaveLength(5);
  });

  it.each([
    [{ workerConcurrency: 1 }, /workerConcurrency must be an integer from 2 to 1000, got 1/],
    [{ workerBatchSize: 11 }, /workerBatchSize must be an integer from 1 to 10, got 11/],
    [{ maxReceiveCount: 0 }, /maxReceiveCount must be an integer from 1 to 1000, got 0/],
    [
      { stallTimeout: Duration.minutes(17) },
      /stallTimeout must be longer than outageBudget plus workerTimeout \(1020 s\), got 1020 s/,
    ],
    [
      { workerTimeout: Duration.seconds(60) },
      /backendTimeout must be shorter than workerTimeout \(60 s\), got 61 s/,
    ],
  ])('rejects %j even in a configuration that skipped parsing', (overrides, message) => {
    expect(() => newPipeline(overrides)).toThrow(message);
  });
});

/** The pipeline's own resources of a type (the stack's other queues, such as the model warm-up's, are not its). */
function batchResources(template: Template, type: string): string[] {
  return Object.keys(template.findResources(type)).filter((id) => id.startsWith('Batch'));
}
