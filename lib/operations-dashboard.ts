import { Duration, Stack } from 'aws-cdk-lib';
import type { Stage } from 'aws-cdk-lib/aws-apigateway';
import {
  type Alarm,
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  MathExpression,
  type Metric,
  SearchExpression,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import {
  CHUNK_COUNTING_SERVICES,
  METRIC,
  METRICS_NAMESPACE,
  type MetricName,
  REQUEST_OUTCOMES,
  SERVICE_NAMES,
} from '../contracts/metric-catalog';
import type { MonitoredQueue } from './monitored-queue';
import {
  CIRCUIT_SERVICES,
  circuitsOpenedMetric,
  endpointMetric,
  refusalsOf,
  SAGEMAKER_INSTANCE_NAMESPACE,
  serviceMetric,
  summedServiceMetric,
} from './platform-alarms';
import type { PlatformFunction } from './platform-function';

/** Graphs use one-minute points: the finest that SQS, SageMaker and standard Lambda metrics offer. */
const PERIOD = Duration.minutes(1);
const HEIGHT = 6;
const FULL_WIDTH = 24;

export interface OperationsDashboardProps {
  /**
   * Name of the dashboard.
   * @default - `<stack name>-operations`
   */
  readonly dashboardName?: string;
  /** The API's deployment stage. */
  readonly stage: Stage;
  /** Every platform function; each gets its own row. */
  readonly functions: readonly PlatformFunction[];
  /** The queues by what they carry, e.g. `{ submissions, work }`. */
  readonly queues: Readonly<Record<string, MonitoredQueue>>;
  /** The SageMaker endpoint and variant. */
  readonly endpoint: { readonly endpointName: string; readonly variantName: string };
  /** Adds a row of the multi-model endpoint's loading and cache metrics (per variant: SageMaker has none per model). */
  readonly multiModel: boolean;
  /** Instance count bounds, drawn on the instance count graph. */
  readonly instanceCount: { readonly min: number; readonly max: number };
  /** Shown in an alarm status widget at the top. */
  readonly alarms: readonly Alarm[];
}

/**
 * One CloudWatch dashboard for operating the platform, in rows under text headers: alarms, API,
 * inference (the handlers' own metrics), batch, one row per Lambda function, SageMaker. Per-model,
 * per-outcome and per-backend graphs use SEARCH expressions, so new models and backends appear
 * without a deploy.
 */
export class OperationsDashboard extends Construct {
  public readonly dashboard: Dashboard;
  /** The widgets, row by row, as laid out. */
  public readonly rows: readonly (readonly IWidget[])[];

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const { stage, endpoint } = props;
    const rows: IWidget[][] = [];
    const header = (title: string, text = '') =>
      rows.push([
        new TextWidget({
          markdown: `## ${title}${text ? `\n${text}` : ''}`,
          width: FULL_WIDTH,
          height: text ? 2 : 1,
        }),
      ]);

    header('Alarms');
    rows.push([
      new AlarmStatusWidget({
        title: 'Alarm status',
        alarms: [...props.alarms],
        width: FULL_WIDTH,
        height: 4,
      }),
    ]);

    header(
      'API',
      'API Gateway stage metrics: every request, including those the authorizer or throttling refused.',
    );
    rows.push([
      graph('Requests', [stage.metricCount({ statistic: 'Sum', period: PERIOD, label: 'Count' })], 6),
      graph(
        '4xx and 5xx',
        [
          stage.metricClientError({ statistic: 'Sum', period: PERIOD, label: '4XXError' }),
          stage.metricServerError({ statistic: 'Sum', period: PERIOD, label: '5XXError' }),
        ],
        6,
      ),
      graph(
        'Latency (ms)',
        ['p50', 'p90', 'p99'].map((statistic) =>
          stage.metricLatency({ statistic, period: PERIOD, label: `Latency ${statistic}` }),
        ),
        6,
      ),
      graph(
        'Integration latency (ms)',
        ['p50', 'p99'].map((statistic) =>
          stage.metricIntegrationLatency({
            statistic,
            period: PERIOD,
            label: `IntegrationLatency ${statistic}`,
          }),
        ),
        6,
      ),
    ]);

    header('Inference', `Custom metrics of the handlers (namespace \`${METRICS_NAMESPACE}\`).`);
    rows.push([
      graph(
        'Inference requests by outcome',
        REQUEST_OUTCOMES.map((outcome) =>
          serviceMetric(METRIC.requests, SERVICE_NAMES.inference, {
            statistic: 'Sum',
            period: PERIOD,
            dimensionsMap: { service: SERVICE_NAMES.inference, outcome },
            label: outcome,
          }),
        ),
        6,
        true,
      ),
      graph(
        'API requests by service and outcome',
        [search(['outcome', 'service'], METRIC.requests, 'Sum')],
        6,
      ),
      graph(
        'Handler latency p99 by model (ms)',
        [search(['model', 'service', 'version'], METRIC.latency, 'p99')],
        6,
      ),
      graph(
        '5xx share by model',
        [search(['model', 'service', 'version'], METRIC.serverErrors, 'Average')],
        6,
      ),
    ]);
    rows.push([
      graph(
        'Rate limiting',
        [
          search(['outcome', 'service'], METRIC.rateLimited, 'Sum', 'RateLimited'),
          search(['outcome', 'service'], METRIC.rateLimiterDegraded, 'Sum', 'RateLimiterDegraded'),
        ],
        6,
      ),
      graph('Backend errors by backend', [search(['backend', 'service'], METRIC.backendErrors, 'Sum')], 6),
      graph(
        'Circuits opened and closed by backend',
        [
          search(['backend', 'service'], METRIC.circuitOpened, 'Sum', 'CircuitOpened'),
          search(['backend', 'service'], METRIC.circuitClosed, 'Sum', 'CircuitClosed'),
        ],
        6,
      ),
      graph(
        'Circuits opened (alarm metric)',
        [
          circuitsOpenedMetric(PERIOD),
          ...CIRCUIT_SERVICES.map((service) =>
            serviceMetric(METRIC.circuitClosed, service, {
              statistic: 'Sum',
              period: PERIOD,
              label: `${service} closed`,
            }),
          ),
        ],
        6,
      ),
    ]);

    header('Batch', 'The batch queues and the model warm-up queue, and the batch jobs.');
    const queues = Object.entries(props.queues);
    rows.push([
      graph(
        'Queue depth (visible messages)',
        queues.map(([name, q]) =>
          q.queue.metricApproximateNumberOfMessagesVisible({
            statistic: 'Maximum',
            period: PERIOD,
            label: name,
          }),
        ),
        8,
      ),
      graph(
        'Oldest message age (s)',
        queues.map(([name, q]) =>
          q.queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: PERIOD, label: name }),
        ),
        8,
      ),
      // Their consumers keep a dead letter they cannot record in flight, not visible.
      graph(
        'Dead letters, visible and in flight',
        queues.flatMap(([name, q]) => [
          q.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            statistic: 'Maximum',
            period: PERIOD,
            label: `${name} dead letters visible`,
          }),
          q.deadLetterQueue.metricApproximateNumberOfMessagesNotVisible({
            statistic: 'Maximum',
            period: PERIOD,
            label: `${name} dead letters in flight`,
          }),
        ]),
        8,
      ),
    ]);
    rows.push([
      graph(
        'Batch items',
        [
          summedServiceMetric(METRIC.batchItemsSucceeded, CHUNK_COUNTING_SERVICES, 'succeeded', PERIOD),
          summedServiceMetric(METRIC.batchItemsFailed, CHUNK_COUNTING_SERVICES, 'failed', PERIOD),
        ],
        8,
      ),
      graph(
        'Batch items by model',
        [
          search(['model', 'service'], METRIC.batchItemsSucceeded, 'Sum', 'BatchItemsSucceeded'),
          search(['model', 'service'], METRIC.batchItemsFailed, 'Sum', 'BatchItemsFailed'),
        ],
        8,
      ),
      graph(
        'Batch job duration by outcome (ms)',
        [
          search(['outcome', 'service'], METRIC.batchJobDuration, 'p50', 'p50'),
          search(['outcome', 'service'], METRIC.batchJobDuration, 'p99', 'p99'),
        ],
        8,
      ),
    ]);
    rows.push([
      graph(
        'Batch chunks deferred for a model outage, and jobs ended as stalled, by model',
        [
          search(['model', 'service'], METRIC.batchChunksDeferred, 'Sum', 'BatchChunksDeferred'),
          search(['model', 'service'], METRIC.batchJobsStalled, 'Sum', 'BatchJobsStalled'),
        ],
        24,
      ),
    ]);

    header('Lambda', 'One row per function: invocations, errors and throttles; duration; concurrency.');
    for (const fn of props.functions) {
      const name = fn.serviceName;
      // Refusals are among the errors: drawn beside them, so what is left is the function's own.
      const refused = refusalsOf(fn, { statistic: 'Sum', period: PERIOD, label: 'Refused (in Errors)' });
      rows.push([
        graph(
          `${name}: invocations, errors, throttles`,
          [
            fn.metricInvocations({ statistic: 'Sum', period: PERIOD, label: 'Invocations' }),
            fn.metricErrors({ statistic: 'Sum', period: PERIOD, label: 'Errors' }),
            ...(refused ? [refused] : []),
            fn.metricThrottles({ statistic: 'Sum', period: PERIOD, label: 'Throttles' }),
          ],
          8,
        ),
        graph(
          `${name}: duration (ms)`,
          ['p50', 'p99'].map((statistic) =>
            fn.metricDuration({ statistic, period: PERIOD, label: `Duration ${statistic}` }),
          ),
          8,
        ),
        graph(
          `${name}: concurrent executions`,
          [
            fn.metric('ConcurrentExecutions', {
              statistic: 'Maximum',
              period: PERIOD,
              label: 'ConcurrentExecutions',
            }),
          ],
          8,
        ),
      ]);
    }

    header(
      'SageMaker',
      `Endpoint \`${endpoint.endpointName}\`, variant \`${endpoint.variantName}\`. SageMaker publishes no instance count metric for a real-time endpoint: the graph divides Invocations by InvocationsPerInstance, so it is empty without traffic.${props.multiModel ? ' The last row is the multi-model model cache, per variant: SageMaker publishes no per-model metrics.' : ''}`,
    );
    const sm = (metricName: string, statistic: string, label = metricName) =>
      endpointMetric(endpoint, metricName, { statistic, period: PERIOD, label });
    const instance = (metricName: string) =>
      endpointMetric(endpoint, metricName, {
        namespace: SAGEMAKER_INSTANCE_NAMESPACE,
        statistic: 'Average',
        period: PERIOD,
        label: metricName,
      });
    rows.push([
      graph(
        'Invocations and errors',
        [sm('Invocations', 'Sum'), sm('Invocation4XXErrors', 'Sum'), sm('Invocation5XXErrors', 'Sum')],
        6,
      ),
      graph(
        'ModelLatency (ms)',
        ['p50', 'p90', 'p99'].map((s) => inMilliseconds(sm('ModelLatency', s), `ModelLatency ${s}`)),
        6,
      ),
      // SageMaker documents no percentiles for OverheadLatency: average and maximum instead.
      graph(
        'OverheadLatency (ms)',
        ['Average', 'Maximum'].map((s) => inMilliseconds(sm('OverheadLatency', s), `OverheadLatency ${s}`)),
        6,
      ),
      new GraphWidget({
        title: 'Instance count',
        left: [
          new MathExpression({
            expression: 'invocations / perInstance',
            usingMetrics: {
              invocations: sm('Invocations', 'Sum'),
              perInstance: sm('InvocationsPerInstance', 'Sum'),
            },
            period: PERIOD,
            label: 'Instances (Invocations / InvocationsPerInstance)',
          }),
        ],
        leftAnnotations: [
          { value: props.instanceCount.min, label: 'min' },
          { value: props.instanceCount.max, label: 'max' },
        ],
        leftYAxis: { min: 0 },
        width: 6,
        height: HEIGHT,
      }),
    ]);
    rows.push([
      graph('GPUUtilization (%)', [instance('GPUUtilization')], 6),
      graph('GPUMemoryUtilization (%)', [instance('GPUMemoryUtilization')], 6),
      graph(
        'CPU and memory utilization (%)',
        [instance('CPUUtilization'), instance('MemoryUtilization')],
        12,
      ),
    ]);
    if (props.multiModel) {
      // The multi-model endpoint's model cache, per endpoint variant: SageMaker publishes none of
      // these per model (docs/operations.md).
      // No percentiles for the loading times: the average and the worst of each minute.
      const times = (metricName: string) =>
        ['Average', 'Maximum'].map((s) => inMilliseconds(sm(metricName, s), `${metricName} ${s} (ms)`));
      rows.push([
        graph('Model load time (ms)', [...times('ModelLoadingWaitTime'), ...times('ModelLoadingTime')], 6),
        graph(
          'Model download and unload time (ms)',
          [...times('ModelDownloadingTime'), ...times('ModelUnloadingTime')],
          6,
        ),
        new GraphWidget({
          title: 'Model cache hits',
          left: [
            sm('ModelCacheHit', 'Sum', 'ModelCacheHit Sum (hits)'),
            sm('ModelCacheHit', 'SampleCount', 'ModelCacheHit SampleCount (invocations)'),
          ],
          right: [sm('ModelCacheHit', 'Average', 'ModelCacheHit Average (share of hits)')],
          rightYAxis: { min: 0, max: 1 },
          width: 6,
          height: HEIGHT,
        }),
        graph(
          'Loaded models',
          [
            sm('LoadedModelCount', 'Average', 'LoadedModelCount Average (per instance)'),
            sm('LoadedModelCount', 'Maximum', 'LoadedModelCount Maximum (one instance)'),
          ],
          6,
        ),
      ]);
    }

    this.rows = rows;
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? `${Stack.of(this).stackName}-operations`,
      defaultInterval: Duration.hours(3),
      widgets: rows,
    });
  }
}

function graph(title: string, left: IMetric[], width: number, stacked = false): GraphWidget {
  return new GraphWidget({ title, left, width, height: HEIGHT, stacked });
}

/** A catalogued metric across every value of `dimensions` (besides the namespace), one line each. */
function search(
  dimensions: readonly string[],
  metricName: MetricName,
  statistic: string,
  label = '',
): SearchExpression {
  return new SearchExpression({
    expression: `SEARCH('{${METRICS_NAMESPACE},${dimensions.join(',')}} MetricName="${metricName}"', '${statistic}', ${PERIOD.toSeconds()})`,
    period: PERIOD,
    // An empty label lets CloudWatch name each line by its dimension values.
    label,
  });
}

/** SageMaker reports latencies in microseconds. */
function inMilliseconds(metric: Metric, label: string): MathExpression {
  // Ids must be unique within a graph and start with a lowercase letter.
  const id = `us_${label.replace(/[^A-Za-z0-9]/g, '_').toLowerCase()}`;
  return new MathExpression({
    expression: `${id} / 1000`,
    usingMetrics: { [id]: metric },
    period: PERIOD,
    label,
  });
}
