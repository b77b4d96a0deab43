import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { Stage } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  Metric,
  type MetricOptions,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import {
  AccountRootPrincipal,
  Effect,
  PolicyDocument,
  PolicyStatement,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import * as ENV from '../contracts/environment-variables';
import { FUNCTIONS } from '../contracts/functions';
import {
  METRIC,
  METRICS_NAMESPACE,
  type MetricName,
  SERVICE_NAMES,
  type ServiceName,
} from '../contracts/metric-catalog';
import { pascalCase } from './pascal-case';
import type { PlatformFunction } from './platform-function';

/** Every alarm looks at five-minute windows: long enough to ride out a single slow request. */
export const ALARM_PERIOD = Duration.minutes(5);
/** SageMaker's invocation metrics; latencies are in microseconds. */
export const SAGEMAKER_NAMESPACE = 'AWS/SageMaker';
/** SageMaker's per-instance utilization metrics (0-100 per CPU or GPU, summed across them). */
export const SAGEMAKER_INSTANCE_NAMESPACE = '/aws/sagemaker/Endpoints';
/**
 * Services whose circuit breakers emit `CircuitOpened` and `CircuitClosed`: every function that
 * reads the circuit table, as the catalogue declares (`contracts/functions.ts`).
 */
export const CIRCUIT_SERVICES: readonly ServiceName[] = Object.values(FUNCTIONS).flatMap((spec) =>
  ENV.CIRCUIT_TABLE_NAME in spec.environment.shape ? [spec.serviceName as ServiceName] : [],
);

/**
 * The statistics SageMaker documents for each endpoint metric this stack reads ("Valid statistics"
 * in the endpoint invocation and multi-model endpoint tables of
 * https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html), and the namespace
 * each is in: `AWS/SageMaker`, but for `LoadedModelCount`, a multi-model "instance metric" of
 * `/aws/sagemaker/Endpoints`. Only `ModelLatency` lists percentiles; a percentile of
 * `OverheadLatency` or of the model loading times is not one.
 */
export const SAGEMAKER_METRIC_STATISTICS: Readonly<
  Record<
    string,
    { readonly statistics: readonly string[]; readonly percentiles: boolean; readonly namespace?: string }
  >
> = {
  Invocations: { statistics: ['Sum'], percentiles: false },
  InvocationsPerInstance: { statistics: ['Sum'], percentiles: false },
  Invocation4XXErrors: { statistics: ['Average', 'Sum'], percentiles: false },
  Invocation5XXErrors: { statistics: ['Average', 'Sum'], percentiles: false },
  InvocationModelErrors: { statistics: ['Average', 'Sum'], percentiles: false },
  ModelLatency: { statistics: ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'], percentiles: true },
  OverheadLatency: {
    statistics: ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'],
    percentiles: false,
  },
  ModelLoadingWaitTime: {
    statistics: ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'],
    percentiles: false,
  },
  ModelLoadingTime: {
    statistics: ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'],
    percentiles: false,
  },
  ModelDownloadingTime: {
    statistics: ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'],
    percentiles: false,
  },
  ModelUnloadingTime: {
    statistics: ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'],
    percentiles: false,
  },
  ModelCacheHit: { statistics: ['Average', 'Sum', 'SampleCount'], percentiles: false },
  LoadedModelCount: {
    statistics: ['Average', 'Sum', 'Minimum', 'Maximum', 'SampleCount'],
    percentiles: false,
    namespace: SAGEMAKER_INSTANCE_NAMESPACE,
  },
};

const documentedMetric = (metricName: string) =>
  Object.hasOwn(SAGEMAKER_METRIC_STATISTICS, metricName)
    ? SAGEMAKER_METRIC_STATISTICS[metricName]
    : undefined;

/** Whether SageMaker documents `statistic` (`Average`, `p99`, ...) for an endpoint metric. */
export function isDocumentedSageMakerStatistic(metricName: string, statistic: string): boolean {
  const documented = documentedMetric(metricName);
  if (!documented) return false;
  return (
    documented.statistics.includes(statistic) || (documented.percentiles && /^p\d+(\.\d+)?$/.test(statistic))
  );
}

/**
 * A metric of one endpoint variant: a metric of SAGEMAKER_METRIC_STATISTICS in its documented
 * namespace with one of its documented statistics, or (`namespace` given) an instance metric.
 */
export function endpointMetric(
  endpoint: { readonly endpointName: string; readonly variantName: string },
  metricName: string,
  options: MetricOptions & { readonly namespace?: string } = {},
): Metric {
  const { namespace: given, ...rest } = options;
  const statistic = rest.statistic ?? 'Average';
  const documented = documentedMetric(metricName);
  const published = documented?.namespace ?? SAGEMAKER_NAMESPACE;
  const namespace = given ?? published;
  if (documented || namespace === SAGEMAKER_NAMESPACE) {
    if (namespace !== published) throw new Error(`SageMaker publishes ${metricName} in ${published}`);
    if (!isDocumentedSageMakerStatistic(metricName, statistic)) {
      throw new Error(
        `SageMaker documents no ${statistic} statistic for ${metricName} (see SAGEMAKER_METRIC_STATISTICS)`,
      );
    }
  }
  return new Metric({
    namespace,
    metricName,
    dimensionsMap: { EndpointName: endpoint.endpointName, VariantName: endpoint.variantName },
    ...rest,
  });
}

/** A catalogued custom metric in its `[service]` dimension set. */
export function serviceMetric(
  metricName: MetricName,
  service: ServiceName,
  options: MetricOptions = {},
): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service },
    ...options,
  });
}

/**
 * The sum of a catalogued count over the services that publish it, in one line or alarm. Each
 * service's id names the metric too, so two sums can share a graph.
 */
export function summedServiceMetric(
  metricName: MetricName,
  services: readonly ServiceName[],
  label: string,
  period: Duration = ALARM_PERIOD,
): MathExpression {
  const usingMetrics: Record<string, IMetric> = {};
  for (const service of services) {
    const id = `${metricName[0]!.toLowerCase()}${metricName.slice(1)}_${service.replaceAll('-', '_')}`;
    usingMetrics[id] = serviceMetric(metricName, service, { statistic: 'Sum', period });
  }
  return new MathExpression({
    // FILL: one service counting while the others are quiet must still add up.
    expression: Object.keys(usingMetrics)
      .map((id) => `FILL(${id}, 0)`)
      .join(' + '),
    usingMetrics,
    period,
    label,
  });
}

/** Circuits opened by every function that keeps circuits, together. */
export function circuitsOpenedMetric(period: Duration = ALARM_PERIOD): MathExpression {
  return summedServiceMetric(METRIC.circuitOpened, CIRCUIT_SERVICES, 'Circuits opened', period);
}

/**
 * Refusals a function makes by failing its invocation, by service: the authorizer fails a request
 * it refuses as unauthorized, the way a REST API Lambda authorizer has API Gateway answer 401, and
 * Lambda counts that among the function's `Errors` as it does any exception the code throws (Lambda
 * developer guide, "Types of metrics for Lambda functions").
 */
const REFUSALS_COUNTED_AS_ERRORS: Partial<Record<ServiceName, MetricName>> = {
  [SERVICE_NAMES.authorizer]: METRIC.unauthorizedRequests,
};

/** The refusals `fn` counts among its Lambda `Errors`, for a function that refuses so. */
export function refusalsOf(fn: PlatformFunction, options: MetricOptions): Metric | undefined {
  const service = fn.serviceName as ServiceName;
  const refusals = REFUSALS_COUNTED_AS_ERRORS[service];
  return refusals && serviceMetric(refusals, service, options);
}

/** Administering a key (who may change or delete it), without using it to encrypt or decrypt. */
const KEY_ADMINISTRATION_ACTIONS = [
  'kms:Create*',
  'kms:Describe*',
  'kms:Enable*',
  'kms:List*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:Disable*',
  'kms:Get*',
  'kms:Delete*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:RotateKeyOnDemand',
];

/** Thresholds, in the units named; `alarmThresholdsOf` reads them from the configuration. */
export interface AlarmThresholds {
  /** Share of API requests answered with a 5xx, percent. */
  readonly apiServerErrorRatePercent: number;
  /** API Gateway p99 latency, ms. */
  readonly apiLatencyP99Ms: number;
  /** SageMaker p99 `ModelLatency`, ms. */
  readonly modelLatencyP99Ms: number;
  /** `Invocation5XXErrors` per window. */
  readonly endpointServerErrors: number;
  /** Errors of one function per window. */
  readonly lambdaErrors: number;
  /** Throttles of one function per window. */
  readonly lambdaThrottles: number;
  /** Circuits opened per window, all services together. */
  readonly circuitsOpened: number;
}

export interface PlatformAlarmsProps {
  readonly thresholds: AlarmThresholds;
  /**
   * Address subscribed to the topic.
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /** The API's deployment stage. */
  readonly stage: Stage;
  /** Functions that get an errors and a throttles alarm each. */
  readonly functions: readonly PlatformFunction[];
  /** The SageMaker endpoint and variant. */
  readonly endpoint: { readonly endpointName: string; readonly variantName: string };
  /** Alarms made elsewhere (the batch queues') that notify the same topic. */
  readonly existingAlarms?: readonly Alarm[];
}

/**
 * The platform's alarms and the SNS topic they notify on ALARM and on OK: API 5xx rate and p99
 * latency, errors and throttles of every function, endpoint 5xx errors and p99 model latency, and
 * circuits opening. Absent data counts as healthy, since every metric here goes quiet without
 * traffic.
 *
 * The topic is encrypted with a customer-managed key: CloudWatch can publish to an encrypted
 * topic only if the key policy lets it, and the AWS-managed `alias/aws/sns` key's policy cannot.
 */
export class PlatformAlarms extends Construct {
  public readonly topic: Topic;
  public readonly topicKey: Key;
  public readonly apiServerErrorRate: Alarm;
  public readonly apiLatencyP99: Alarm;
  public readonly endpointServerErrors: Alarm;
  public readonly modelLatencyP99: Alarm;
  public readonly circuitsOpened: Alarm;
  /** Errors and throttles alarm of each function, by service name. */
  public readonly functionErrors: Readonly<Record<string, Alarm>>;
  public readonly functionThrottles: Readonly<Record<string, Alarm>>;
  /** Every alarm that notifies the topic, including `existingAlarms`. */
  public readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: PlatformAlarmsProps) {
    super(scope, id);
    const { thresholds, stage, endpoint } = props;
    const stack = Stack.of(this);

    this.topicKey = new Key(this, 'TopicKey', {
      description: 'Encrypts the platform alarm topic',
      // The account administers the key with named actions, not the default `kms:*`; only
      // CloudWatch (below) uses it, to publish alarm notifications.
      policy: new PolicyDocument({
        statements: [
          new PolicyStatement({
            principals: [new AccountRootPrincipal()],
            actions: KEY_ADMINISTRATION_ACTIONS,
            resources: ['*'],
          }),
        ],
      }),
      enableKeyRotation: true,
      // Notifications are transient; nothing encrypted with the key outlives the stack.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    const cloudWatch = new ServicePrincipal('cloudwatch.amazonaws.com');
    this.topicKey.addToResourcePolicy(
      new PolicyStatement({
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new Topic(this, 'Topic', {
      displayName: `${stack.stackName} alarms`,
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    // enforceSSL replaces the default topic policy, so CloudWatch needs its own grant.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm:*' }) },
        },
      }),
    );
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    // Rates and latencies: two of three windows, so one bad window does not page.
    const sustained = { evaluationPeriods: 3, datapointsToAlarm: 2 };
    // Counts already sum a window: one window over the threshold is enough.
    const once = { evaluationPeriods: 1, datapointsToAlarm: 1 };
    const alarm = (
      alarmId: string,
      metric: IMetric,
      threshold: number,
      alarmDescription: string,
      windows: { evaluationPeriods: number; datapointsToAlarm: number },
      comparisonOperator = ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) =>
      new Alarm(this, alarmId, {
        metric,
        threshold,
        comparisonOperator,
        alarmDescription,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        ...windows,
      });

    this.apiServerErrorRate = alarm(
      'ApiServerErrorRate',
      new MathExpression({
        expression: '100 * errors',
        usingMetrics: { errors: stage.metricServerError({ statistic: 'Average', period: ALARM_PERIOD }) },
        period: ALARM_PERIOD,
        label: 'API 5xx rate (%)',
      }),
      thresholds.apiServerErrorRatePercent,
      `More than ${thresholds.apiServerErrorRatePercent}% of API requests answered 5xx`,
      sustained,
      ComparisonOperator.GREATER_THAN_THRESHOLD,
    );
    this.apiLatencyP99 = alarm(
      'ApiLatencyP99',
      stage.metricLatency({ statistic: 'p99', period: ALARM_PERIOD }),
      thresholds.apiLatencyP99Ms,
      `API p99 latency above ${thresholds.apiLatencyP99Ms} ms`,
      sustained,
      ComparisonOperator.GREATER_THAN_THRESHOLD,
    );

    const functionErrors: Record<string, Alarm> = {};
    const functionThrottles: Record<string, Alarm> = {};
    for (const fn of props.functions) {
      const name = pascalCase(fn.serviceName);
      const errors = fn.metricErrors({ statistic: 'Sum', period: ALARM_PERIOD });
      const refused = refusalsOf(fn, { statistic: 'Sum', period: ALARM_PERIOD });
      functionErrors[fn.serviceName] = alarm(
        `${name}Errors`,
        refused
          ? new MathExpression({
              // Only the function's own failures: a refusal is a failed invocation by design.
              expression: 'FILL(errors, 0) - FILL(refused, 0)',
              usingMetrics: { errors, refused },
              period: ALARM_PERIOD,
              label: `${fn.serviceName} errors other than refusals`,
            })
          : errors,
        thresholds.lambdaErrors,
        `${fn.serviceName} function: ${thresholds.lambdaErrors} or more errors${refused ? ' other than refusals' : ''} in 5 minutes`,
        once,
      );
      functionThrottles[fn.serviceName] = alarm(
        `${name}Throttles`,
        fn.metricThrottles({ statistic: 'Sum', period: ALARM_PERIOD }),
        thresholds.lambdaThrottles,
        `${fn.serviceName} function: ${thresholds.lambdaThrottles} or more throttled invocations in 5 minutes`,
        once,
      );
    }
    this.functionErrors = functionErrors;
    this.functionThrottles = functionThrottles;

    this.endpointServerErrors = alarm(
      'EndpointServerErrors',
      endpointMetric(endpoint, 'Invocation5XXErrors', { statistic: 'Sum', period: ALARM_PERIOD }),
      thresholds.endpointServerErrors,
      `SageMaker endpoint: ${thresholds.endpointServerErrors} or more 5xx invocations in 5 minutes`,
      once,
    );
    this.modelLatencyP99 = alarm(
      'ModelLatencyP99',
      endpointMetric(endpoint, 'ModelLatency', { statistic: 'p99', period: ALARM_PERIOD }),
      // ModelLatency is reported in microseconds.
      thresholds.modelLatencyP99Ms * 1000,
      `SageMaker p99 model latency above ${thresholds.modelLatencyP99Ms} ms`,
      sustained,
      ComparisonOperator.GREATER_THAN_THRESHOLD,
    );
    this.circuitsOpened = alarm(
      'CircuitsOpened',
      circuitsOpenedMetric(),
      thresholds.circuitsOpened,
      `${thresholds.circuitsOpened} or more backend circuits opened in 5 minutes (${CIRCUIT_SERVICES.join(', ')})`,
      once,
    );

    this.alarms = [
      this.apiServerErrorRate,
      this.apiLatencyP99,
      ...Object.values(functionErrors),
      ...Object.values(functionThrottles),
      this.endpointServerErrors,
      this.modelLatencyP99,
      this.circuitsOpened,
      ...(props.existingAlarms ?? []),
    ];
    const action = new SnsAction(this.topic);
    for (const a of this.alarms) {
      a.addAlarmAction(action);
      a.addOkAction(action);
    }
  }
}
