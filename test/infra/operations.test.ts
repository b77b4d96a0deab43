import * as path from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SERVICE_NAME, FUNCTIONS as FUNCTION_SPECS } from '../../contracts/functions';
import {
  METRIC,
  METRICS_NAMESPACE,
  REQUEST_OUTCOMES,
  SERVICE_NAMES,
  type ServiceName,
} from '../../contracts/metric-catalog';
import { LAMBDA_ESBUILD_OPTIONS } from '../../lib/lambda-esbuild-options';
import {
  endpointMetric,
  isDocumentedSageMakerStatistic,
  SAGEMAKER_METRIC_STATISTICS,
} from '../../lib/platform-alarms';
import { PROJECT_ROOT } from '../../lib/project-root';
import { synthesizePlatform } from './platform-app';

/** Logical id prefix of each platform function, by service name. */
const FUNCTIONS: Record<ServiceName, string> = {
  [SERVICE_NAMES.health]: 'ApiHealthFunction',
  [SERVICE_NAMES.inference]: 'ApiInferenceFunction',
  [SERVICE_NAMES.models]: 'ApiModelsFunction',
  [SERVICE_NAMES.batch]: 'ApiBatchFunction',
  [SERVICE_NAMES.authorizer]: 'ApiAuthorizerFunction',
  [SERVICE_NAMES.batchFanOut]: 'BatchFanOutFunction',
  [SERVICE_NAMES.batchWorker]: 'BatchWorkerFunction',
  [SERVICE_NAMES.batchDeadLetters]: 'BatchDeadLettersFunction',
  [SERVICE_NAMES.modelWarmup]: 'WarmUpFunction',
};
const SERVICES = Object.keys(FUNCTIONS) as ServiceName[];

/** Synthesizing the whole stack can outlast vitest's default hook timeout on a busy machine. */
const SYNTH_TIMEOUT_MS = 120_000;

/** The default configuration, synthesized once for the dashboard and the alarm tests. */
let defaultPlatform: ReturnType<typeof synthesizePlatform> | undefined;
const defaults = () => {
  defaultPlatform ??= synthesizePlatform();
  return defaultPlatform;
};

function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

const functionId = (template: Template, service: ServiceName) =>
  logicalId(template, 'AWS::Lambda::Function', FUNCTIONS[service]);

interface Widget {
  type: string;
  x: number;
  y: number;
  width: number;
  height: number;
  properties: { title?: string; markdown?: string; metrics?: unknown[][]; alarms?: unknown[] };
}

/** One line of a graph: a metric (namespace, name, dimensions, stat) or an expression. */
interface Line {
  namespace?: string;
  metricName?: string;
  dimensions: Record<string, string>;
  stat: string;
  expression?: string;
  widget: string;
}

/**
 * The dashboard body as JSON. It is an Fn::Join: literal parts stay, each token becomes
 * `<Ref:Id>` or `<GetAtt:Id.Attr>` (only ever inside JSON strings, so the result still parses).
 */
function dashboardBody(template: Template): { widgets: Widget[] } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = dashboards[0]!.Properties.DashboardBody;
  const parts: unknown[] = typeof body === 'string' ? [body] : body['Fn::Join'][1];
  const text = parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const token = part as { Ref?: string; 'Fn::GetAtt'?: string[] };
      if (token.Ref) return `<Ref:${token.Ref}>`;
      if (token['Fn::GetAtt']) return `<GetAtt:${token['Fn::GetAtt'].join('.')}>`;
      throw new Error(`unexpected token in the dashboard body: ${JSON.stringify(part)}`);
    })
    .join('');
  return JSON.parse(text);
}

function linesOf(widgets: Widget[]): Line[] {
  return widgets.flatMap((w) =>
    (w.properties.metrics ?? []).map((row) => {
      const options = (typeof row[row.length - 1] === 'object' ? row[row.length - 1] : {}) as {
        stat?: string;
        expression?: string;
      };
      const plain = row.filter((x) => typeof x === 'string') as string[];
      const dimensions: Record<string, string> = {};
      for (let i = 2; i + 1 < plain.length; i += 2) dimensions[plain[i]!] = plain[i + 1]!;
      return {
        namespace: plain[0],
        metricName: plain[1],
        dimensions,
        stat: options.stat ?? 'Average',
        expression: options.expression,
        widget: w.properties.title ?? '',
      };
    }),
  );
}

describe('operations dashboard', () => {
  let template: Template;
  let widgets: Widget[];
  let lines: Line[];
  let endpointName: string;

  beforeAll(() => {
    const platform = defaults();
    template = platform.template;
    endpointName = platform.stack.endpoint.endpointName;
    widgets = dashboardBody(template).widgets;
    lines = linesOf(widgets);
  }, SYNTH_TIMEOUT_MS);

  const hasLine = (expected: Partial<Line>) =>
    expect(lines).toContainEqual(expect.objectContaining(expected));

  it('is one dashboard named after the stack', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: 'InferencePlatform-operations',
    });
  });

  it('lays out rows under text headers, no row wider than 24', () => {
    const headers = widgets
      .filter((w) => w.type === 'text')
      .map((w) => w.properties.markdown?.split('\n')[0]);
    expect(headers).toEqual(['## Alarms', '## API', '## Inference', '## Batch', '## Lambda', '## SageMaker']);
    const widthByRow = new Map<number, number>();
    for (const w of widgets) widthByRow.set(w.y, (widthByRow.get(w.y) ?? 0) + w.width);
    for (const width of widthByRow.values()) expect(width).toBeLessThanOrEqual(24);
    for (const w of widgets) expect(w.x + w.width).toBeLessThanOrEqual(24);
  });

  it('shows the status of every alarm', () => {
    const status = widgets.filter((w) => w.type === 'alarm');
    expect(status).toHaveLength(1);
    expect(status[0]!.properties.alarms).toHaveLength(
      Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length,
    );
  });

  it('graphs API Gateway requests, 4xx, 5xx, latency p50/p90/p99 and integration latency of the stage', () => {
    const restApi = logicalId(template, 'AWS::ApiGateway::RestApi', 'ApiRestApi');
    const stage = {
      ApiName: template.toJSON().Resources[restApi].Properties.Name,
      Stage: `<Ref:${logicalId(template, 'AWS::ApiGateway::Stage', 'ApiRestApiDeploymentStageprod')}>`,
    };
    hasLine({ namespace: 'AWS/ApiGateway', metricName: 'Count', stat: 'Sum', dimensions: stage });
    hasLine({ namespace: 'AWS/ApiGateway', metricName: '4XXError', stat: 'Sum', dimensions: stage });
    hasLine({ namespace: 'AWS/ApiGateway', metricName: '5XXError', stat: 'Sum', dimensions: stage });
    for (const stat of ['p50', 'p90', 'p99']) {
      hasLine({ namespace: 'AWS/ApiGateway', metricName: 'Latency', stat, dimensions: stage });
    }
    hasLine({
      namespace: 'AWS/ApiGateway',
      metricName: 'IntegrationLatency',
      stat: 'p99',
      dimensions: stage,
    });
  });

  it.each(SERVICES)(
    'graphs invocations, errors, throttles, duration and concurrency of the %s function',
    (service) => {
      const dimensions = { FunctionName: `<Ref:${functionId(template, service)}>` };
      for (const [metricName, stat] of [
        ['Invocations', 'Sum'],
        ['Errors', 'Sum'],
        ['Throttles', 'Sum'],
        ['Duration', 'p50'],
        ['Duration', 'p99'],
        ['ConcurrentExecutions', 'Maximum'],
      ]) {
        hasLine({ namespace: 'AWS/Lambda', metricName, stat, dimensions });
      }
    },
  );

  it('graphs depth and oldest message age of the batch queues and the warm-up queue and their dead letters, visible and in flight', () => {
    const { stack } = defaults();
    const queueName = (queue: IQueue) => ({
      QueueName: `<GetAtt:${stack.getLogicalId(queue.node.defaultChild as CfnElement)}.QueueName>`,
    });
    const monitored = [stack.batch.submissions, stack.batch.work, stack.warmUp.queue];
    for (const { queue, deadLetterQueue } of monitored) {
      const dimensions = queueName(queue);
      hasLine({ namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', dimensions });
      hasLine({ namespace: 'AWS/SQS', metricName: 'ApproximateAgeOfOldestMessage', dimensions });
      for (const metricName of [
        'ApproximateNumberOfMessagesVisible',
        'ApproximateNumberOfMessagesNotVisible',
      ]) {
        hasLine({ namespace: 'AWS/SQS', metricName, dimensions: queueName(deadLetterQueue) });
      }
    }
  });

  it('graphs the SageMaker invocation, latency, error and instance metrics of the endpoint variant', () => {
    const dimensions = { EndpointName: endpointName, VariantName: 'AllTraffic' };
    for (const metricName of [
      'Invocations',
      'Invocation4XXErrors',
      'Invocation5XXErrors',
      'ModelLatency',
      'OverheadLatency',
      'InvocationsPerInstance',
      'ModelLoadingWaitTime',
      'ModelCacheHit',
    ]) {
      hasLine({ namespace: 'AWS/SageMaker', metricName, dimensions });
    }
    for (const metricName of [
      'GPUUtilization',
      'GPUMemoryUtilization',
      'CPUUtilization',
      'MemoryUtilization',
    ]) {
      hasLine({ namespace: '/aws/sagemaker/Endpoints', metricName, dimensions });
    }
    // Latencies arrive in microseconds and are graphed in milliseconds.
    expect(lines.filter((l) => l.expression?.endsWith('/ 1000')).length).toBeGreaterThanOrEqual(5);
    hasLine({ expression: 'invocations / perInstance', widget: 'Instance count' });
  });

  it('graphs every catalogued custom metric, by metric or by SEARCH over its dimension sets', () => {
    const searches = lines.flatMap((l) => (l.expression?.startsWith('SEARCH(') ? [l.expression] : []));
    for (const expression of searches) {
      expect(expression).toMatch(
        new RegExp(`^SEARCH\\('\\{${METRICS_NAMESPACE},[a-z,]+\\} MetricName="[A-Za-z]+"', '\\w+', 60\\)$`),
      );
    }
    for (const metricName of Object.values(METRIC)) {
      const graphed =
        lines.some((l) => l.namespace === METRICS_NAMESPACE && l.metricName === metricName) ||
        searches.some((s) => s.includes(`MetricName="${metricName}"`));
      expect(graphed, metricName).toBe(true);
    }
    expect(searches).toContain(
      `SEARCH('{${METRICS_NAMESPACE},outcome,service} MetricName="Requests"', 'Sum', 60)`,
    );
    expect(searches).toContain(
      `SEARCH('{${METRICS_NAMESPACE},model,service,version} MetricName="Latency"', 'p99', 60)`,
    );
    expect(searches).toContain(
      `SEARCH('{${METRICS_NAMESPACE},backend,service} MetricName="BackendErrors"', 'Sum', 60)`,
    );
    for (const outcome of REQUEST_OUTCOMES) {
      hasLine({
        namespace: METRICS_NAMESPACE,
        metricName: METRIC.requests,
        dimensions: { outcome, service: SERVICE_NAMES.inference },
        stat: 'Sum',
      });
    }
  });
});

describe('alarms', () => {
  let template: Template;
  let topic: string;
  let endpointName: string;

  beforeAll(() => {
    const platform = defaults();
    template = platform.template;
    endpointName = platform.stack.endpoint.endpointName;
    topic = logicalId(template, 'AWS::SNS::Topic', 'AlarmsTopic');
  }, SYNTH_TIMEOUT_MS);

  const notifies = () => ({ AlarmActions: [{ Ref: topic }], OKActions: [{ Ref: topic }] });

  it('creates the platform alarms next to the six queue alarms, all notifying the topic on ALARM and OK', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    // API 5xx rate and p99, errors and throttles of each function, endpoint 5xx and model latency,
    // circuits, dead letters and oldest age of the two batch queues and the warm-up queue, stalled
    // batch jobs, and a failed key rotation.
    expect(alarms).toHaveLength(2 + 2 * SERVICES.length + 2 + 1 + 6 + 1 + 1);
    for (const alarm of alarms) {
      expect(alarm.Properties).toMatchObject({ ...notifies(), TreatMissingData: 'notBreaching' });
    }
  });

  it('alarms on an API 5xx rate above 1% in two of three 5-minute windows', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...notifies(),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: '100 * errors', ReturnData: true }),
        Match.objectLike({
          Id: 'errors',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({ Namespace: 'AWS/ApiGateway', MetricName: '5XXError' }),
            Period: 300,
            Stat: 'Average',
          }),
        }),
      ]),
    });
  });

  it('alarms on an API p99 latency above 2000 ms', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...notifies(),
      Namespace: 'AWS/ApiGateway',
      MetricName: 'Latency',
      ExtendedStatistic: 'p99',
      Period: 300,
      Threshold: 2000,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
    });
  });

  it.each(SERVICES)('alarms on any throttle of the %s function in 5 minutes', (service) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...notifies(),
      Namespace: 'AWS/Lambda',
      MetricName: 'Throttles',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(template, service) } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
    });
  });

  it.each(SERVICES.filter((s) => s !== SERVICE_NAMES.authorizer))(
    'alarms on 5 errors of the %s function in 5 minutes',
    (service) => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...notifies(),
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(template, service) } }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 5,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
      });
    },
  );

  it('alarms on 5 errors of the authorizer in 5 minutes other than the requests it refused as unauthorized', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...notifies(),
      Threshold: 5,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      Metrics: [
        Match.objectLike({ Expression: 'FILL(errors, 0) - FILL(refused, 0)', ReturnData: true }),
        {
          Id: 'errors',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/Lambda',
              MetricName: 'Errors',
              Dimensions: [
                { Name: 'FunctionName', Value: { Ref: functionId(template, SERVICE_NAMES.authorizer) } },
              ],
            },
            Period: 300,
            Stat: 'Sum',
          },
        },
        {
          Id: 'refused',
          ReturnData: false,
          MetricStat: {
            Metric: {
              Namespace: METRICS_NAMESPACE,
              MetricName: METRIC.unauthorizedRequests,
              Dimensions: [{ Name: 'service', Value: SERVICE_NAMES.authorizer }],
            },
            Period: 300,
            Stat: 'Sum',
          },
        },
      ],
    });
  });

  it('alarms on 5 endpoint 5xx invocations in 5 minutes and on a p99 model latency above 1000 ms (in microseconds)', () => {
    const dimensions = [
      { Name: 'EndpointName', Value: endpointName },
      { Name: 'VariantName', Value: 'AllTraffic' },
    ];
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...notifies(),
      Namespace: 'AWS/SageMaker',
      MetricName: 'Invocation5XXErrors',
      Dimensions: dimensions,
      Statistic: 'Sum',
      Threshold: 5,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...notifies(),
      Namespace: 'AWS/SageMaker',
      MetricName: 'ModelLatency',
      Dimensions: dimensions,
      ExtendedStatistic: 'p99',
      Threshold: 1_000_000,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
    });
  });

  it('alarms when a circuit opens in any function that keeps circuits: inference, warm-up and batch worker', () => {
    const circuitOpened = (service: string) =>
      Match.objectLike({
        Id: `circuitOpened_${service.replaceAll('-', '_')}`,
        ReturnData: false,
        MetricStat: {
          Metric: {
            Namespace: METRICS_NAMESPACE,
            MetricName: METRIC.circuitOpened,
            Dimensions: [{ Name: 'service', Value: service }],
          },
          Period: 300,
          Stat: 'Sum',
        },
      });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      ...notifies(),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Metrics: Match.arrayWith([
        Match.objectLike({
          Expression:
            'FILL(circuitOpened_inference, 0) + FILL(circuitOpened_model_warmup, 0) + FILL(circuitOpened_batch_worker, 0)',
          ReturnData: true,
        }),
        circuitOpened(SERVICE_NAMES.inference),
        circuitOpened(SERVICE_NAMES.modelWarmup),
        circuitOpened(SERVICE_NAMES.batchWorker),
      ]),
    });
  });

  /** The dead-letter alarms: dead letters visible or in flight. */
  const deadLetterAlarms = () =>
    Object.values(
      template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { Metrics: Match.arrayWith([Match.objectLike({ Id: 'inFlight' })]) },
      }),
    ).map((alarm) => alarm.Properties);

  it('sends the dead-letter and oldest-message alarms of both batch queues and the warm-up queue to the topic', () => {
    const deadLetters = deadLetterAlarms();
    expect(deadLetters).toHaveLength(3);
    for (const alarm of deadLetters) expect(alarm).toMatchObject({ Threshold: 1, ...notifies() });
    // The warm-up queue's threshold is its budget, 900 s, as the batch queues' default.
    template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 900, ...notifies() },
      3,
    );
  });

  it('alarms on a dead letter once its consumer has given it up, before the consumer receives it again', () => {
    const resources = template.toJSON().Resources;
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
    const deadLetters = deadLetterAlarms();
    expect(deadLetters).toHaveLength(3);
    for (const alarm of deadLetters) {
      const inFlight = alarm.Metrics.find((m: { Id: string }) => m.Id === 'inFlight');
      const queue = inFlight.MetricStat.Metric.Dimensions[0].Value['Fn::GetAtt'][0] as string;
      const consumers = mappings.filter((m) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === queue);
      expect(consumers, queue).toHaveLength(1);
      const consumer = resources[consumers[0]!.Properties.FunctionName.Ref];
      const windowSeconds = alarm.DatapointsToAlarm * inFlight.MetricStat.Period;
      expect(alarm.EvaluationPeriods).toBe(alarm.DatapointsToAlarm);
      // A dead letter recorded within an invocation is deleted before the window ends.
      expect(consumer.Properties.Timeout).toBeLessThan(windowSeconds);
      // One its consumer failed is still hidden when the window ends: the alarm fires before the retry.
      expect(resources[queue].Properties.VisibilityTimeout).toBeGreaterThan(windowSeconds);
    }
  });

  it('encrypts the topic with a rotating customer key CloudWatch may use, and takes publishes over TLS only', () => {
    const key = logicalId(template, 'AWS::KMS::Key', 'AlarmsTopicKey');
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topic }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
          }),
        ]),
      },
    });
  });

  it('has no subscription when no alarm e-mail is configured', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it.each(SERVICES)('names the %s function its service in POWERTOOLS_SERVICE_NAME', (service) => {
    const fn = template.toJSON().Resources[functionId(template, service)];
    expect(fn.Properties.Environment.Variables).toMatchObject({
      POWERTOOLS_SERVICE_NAME: service,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    });
  });

  it('leaves the deployment function, which emits no catalogued metrics, on the default service name', () => {
    const fn =
      template.toJSON().Resources[logicalId(template, 'AWS::Lambda::Function', 'DeploymentFunction')];
    expect(fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME).toBe(DEFAULT_SERVICE_NAME);
  });
});

/**
 * The metrics each service publishes as events (`publishEvent`), read from its bundle as deployed
 * but not minified, so that code a bundle leaves out publishes nothing.
 */
async function eventPublishers(): Promise<Map<string, Set<string>>> {
  const publishers = new Map<string, Set<string>>();
  for (const spec of Object.values(FUNCTION_SPECS)) {
    const { outputFiles } = await build({
      ...LAMBDA_ESBUILD_OPTIONS,
      minify: false,
      sourcemap: false,
      absWorkingDir: PROJECT_ROOT,
      entryPoints: [path.join(PROJECT_ROOT, spec.entry)],
      outdir: path.join(PROJECT_ROOT, 'cdk.out', 'publishers-test'),
      write: false,
      logLevel: 'error',
    });
    const code = outputFiles.map((file) => file.text).join('\n');
    for (const [, key] of code.matchAll(/\bpublishEvent\d*\(\s*METRIC\d*\.(\w+)/g)) {
      const metricName = METRIC[key as keyof typeof METRIC];
      expect(metricName, key).toBeDefined();
      if (!publishers.has(metricName)) publishers.set(metricName, new Set());
      publishers.get(metricName)!.add(spec.serviceName);
    }
  }
  return publishers;
}

describe('event metrics read by service', () => {
  let template: Template;
  let publishers: Map<string, Set<string>>;

  beforeAll(async () => {
    ({ template } = defaults());
    publishers = await eventPublishers();
  }, SYNTH_TIMEOUT_MS);

  /** A graph or an alarm that reads `metricName` under the bare [service] set of `service`. */
  interface Read {
    where: string;
    metricName: string;
    service: string;
  }

  const serviceReads = (): Read[] => {
    const graphed = linesOf(dashboardBody(template).widgets).flatMap((l) =>
      l.namespace === METRICS_NAMESPACE && Object.keys(l.dimensions).join() === 'service'
        ? [{ where: `dashboard: ${l.widget}`, metricName: l.metricName!, service: l.dimensions.service! }]
        : [],
    );
    const alarmed = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).flatMap(
      ([id, alarm]) => {
        const p = alarm.Properties;
        const metrics = [
          { Namespace: p.Namespace, MetricName: p.MetricName, Dimensions: p.Dimensions },
          ...(p.Metrics ?? []).flatMap((m: { MetricStat?: { Metric: unknown } }) =>
            m.MetricStat ? [m.MetricStat.Metric] : [],
          ),
        ] as { Namespace?: string; MetricName?: string; Dimensions?: { Name: string; Value: string }[] }[];
        return metrics.flatMap((m) =>
          m.Namespace === METRICS_NAMESPACE &&
          m.Dimensions?.length === 1 &&
          m.Dimensions[0]!.Name === 'service'
            ? [{ where: `alarm ${id}`, metricName: m.MetricName!, service: m.Dimensions[0]!.Value }]
            : [],
        );
      },
    );
    return [...graphed, ...alarmed];
  };

  it('finds the publishers of the event metrics in the bundles', () => {
    expect([...(publishers.get(METRIC.circuitOpened) ?? [])].sort()).toEqual(
      [SERVICE_NAMES.batchWorker, SERVICE_NAMES.inference, SERVICE_NAMES.modelWarmup].sort(),
    );
    expect([...(publishers.get(METRIC.batchItemsFailed) ?? [])].sort()).toEqual(
      [SERVICE_NAMES.batchDeadLetters, SERVICE_NAMES.batchFanOut, SERVICE_NAMES.batchWorker].sort(),
    );
  });

  it('reads every service that publishes a metric wherever a graph or an alarm reads it by service', () => {
    const reads = serviceReads();
    expect(reads.length).toBeGreaterThan(0);
    const missing: string[] = [];
    const places = new Set(reads.map((r) => `${r.where}\u0000${r.metricName}`));
    for (const place of places) {
      const [where, metricName] = place.split('\u0000') as [string, string];
      const read = new Set(
        reads.filter((r) => r.where === where && r.metricName === metricName).map((r) => r.service),
      );
      for (const service of publishers.get(metricName) ?? []) {
        if (!read.has(service)) missing.push(`${where}: ${metricName} of ${service}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('alarms and dashboard with configuration overrides', () => {
  let template: Template;

  beforeAll(() => {
    ({ template } = synthesizePlatform({
      alarmEmail: 'oncall@example.com',
      apiServerErrorRateAlarmPercent: '2.5',
      apiLatencyP99AlarmMs: '1500',
      modelLatencyP99AlarmMs: '250',
      endpointServerErrorsAlarmCount: '10',
      lambdaErrorsAlarmCount: '3',
      lambdaThrottlesAlarmCount: '2',
      circuitOpenedAlarmCount: '4',
      batchOldestMessageAgeAlarmSeconds: '600',
      servingMode: 'single-model',
    }));
  }, SYNTH_TIMEOUT_MS);

  it('subscribes the configured e-mail address to the topic', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: logicalId(template, 'AWS::SNS::Topic', 'AlarmsTopic') },
    });
  });

  it('follows the configured thresholds', () => {
    const count = (props: Record<string, unknown>, n: number) =>
      template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', props, n);
    count(
      { Threshold: 2.5, Metrics: Match.arrayWith([Match.objectLike({ Expression: '100 * errors' })]) },
      1,
    );
    count({ MetricName: 'Latency', Threshold: 1500 }, 1);
    count({ MetricName: 'ModelLatency', Threshold: 250_000 }, 1);
    count({ MetricName: 'Invocation5XXErrors', Threshold: 10 }, 1);
    count({ Namespace: 'AWS/Lambda', MetricName: 'Errors', Threshold: 3 }, SERVICES.length - 1);
    count({ Threshold: 3, Metrics: Match.arrayWith([Match.objectLike({ Id: 'refused' })]) }, 1);
    count({ Namespace: 'AWS/Lambda', MetricName: 'Throttles', Threshold: 2 }, SERVICES.length);
    count(
      { Threshold: 4, Metrics: Match.arrayWith([Match.objectLike({ Id: 'circuitOpened_inference' })]) },
      1,
    );
    count({ MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 600 }, 2);
  });

  it('leaves the multi-model metrics off a single-model endpoint and keeps rows within 24', () => {
    const { widgets } = dashboardBody(template);
    const names = linesOf(widgets).map((l) => l.metricName);
    expect(names).not.toContain('ModelLoadingWaitTime');
    expect(names).not.toContain('ModelCacheHit');
    expect(names).toContain('GPUUtilization');
    const widthByRow = new Map<number, number>();
    for (const w of widgets) widthByRow.set(w.y, (widthByRow.get(w.y) ?? 0) + w.width);
    for (const width of widthByRow.values()) expect(width).toBeLessThanOrEqual(24);
  });
});

describe('SageMaker statistics', () => {
  let template: Template;

  beforeAll(() => {
    ({ template } = defaults());
  }, SYNTH_TIMEOUT_MS);

  /** Every (metric, statistic) an AWS/SageMaker graph line or alarm reads. */
  function sageMakerReads(): { metricName: string; stat: string; where: string }[] {
    const graphed = linesOf(dashboardBody(template).widgets)
      .filter((l) => l.namespace === 'AWS/SageMaker')
      .map((l) => ({ metricName: l.metricName!, stat: l.stat, where: `dashboard: ${l.widget}` }));
    const alarmed = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).flatMap(
      ([id, alarm]) => {
        const p = alarm.Properties as {
          Namespace?: string;
          MetricName?: string;
          Statistic?: string;
          ExtendedStatistic?: string;
          Metrics?: { MetricStat?: { Metric: { Namespace: string; MetricName: string }; Stat: string } }[];
        };
        const single =
          p.Namespace === 'AWS/SageMaker'
            ? [
                {
                  metricName: p.MetricName!,
                  stat: (p.Statistic ?? p.ExtendedStatistic)!,
                  where: `alarm ${id}`,
                },
              ]
            : [];
        const math = (p.Metrics ?? [])
          .filter((m) => m.MetricStat?.Metric.Namespace === 'AWS/SageMaker')
          .map((m) => ({
            metricName: m.MetricStat!.Metric.MetricName,
            stat: m.MetricStat!.Stat,
            where: `alarm ${id}`,
          }));
        return [...single, ...math];
      },
    );
    return [...graphed, ...alarmed];
  }

  it('reads every AWS/SageMaker metric with a statistic SageMaker documents for it', () => {
    const reads = sageMakerReads();
    expect(reads.map((r) => r.metricName)).toEqual(
      expect.arrayContaining(['ModelLatency', 'OverheadLatency', 'ModelLoadingWaitTime', 'ModelLoadingTime']),
    );
    const undocumented = reads.filter((r) => !isDocumentedSageMakerStatistic(r.metricName, r.stat));
    expect(undocumented).toEqual([]);
  });

  it('keeps percentiles for ModelLatency, the one latency SageMaker publishes them for', () => {
    const stats = sageMakerReads()
      .filter((r) => r.metricName === 'ModelLatency')
      .map((r) => r.stat);
    expect(stats).toEqual(expect.arrayContaining(['p50', 'p90', 'p99']));
  });

  it.each([
    ['OverheadLatency', 'p99', false],
    ['ModelLoadingWaitTime', 'p50', false],
    ['ModelLoadingTime', 'p99', false],
    ['Invocations', 'Average', false],
    ['NoSuchMetric', 'Sum', false],
    ['ModelLatency', 'p99', true],
    ['ModelLatency', 'p99.9', true],
    ['OverheadLatency', 'Maximum', true],
    ['ModelCacheHit', 'Average', true],
  ] as const)('documents %s %s: %s', (metricName, statistic, documented) => {
    expect(isDocumentedSageMakerStatistic(metricName, statistic)).toBe(documented);
  });

  it('refuses to build an AWS/SageMaker metric with an undocumented statistic', () => {
    const endpoint = { endpointName: 'e', variantName: 'AllTraffic' };
    expect(() => endpointMetric(endpoint, 'OverheadLatency', { statistic: 'p99' })).toThrow(
      /SageMaker documents no p99 statistic for OverheadLatency/,
    );
    expect(() =>
      endpointMetric(endpoint, 'GPUUtilization', { namespace: '/aws/sagemaker/Endpoints', statistic: 'p99' }),
    ).not.toThrow();
    expect(Object.keys(SAGEMAKER_METRIC_STATISTICS)).toContain('OverheadLatency');
  });
});
