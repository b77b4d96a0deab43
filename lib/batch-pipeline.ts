import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import * as ENV from '../contracts/environment-variables';
import { FUNCTIONS } from '../contracts/functions';
import { METRIC, METRICS_NAMESPACE, SERVICE_NAMES } from '../contracts/metric-catalog';
import { BACKEND_WAIT_MS } from '../contracts/sagemaker-limits';
import { batchWorkWindow } from '../contracts/settings';
import {
  DEAD_LETTERS_TIMEOUT_SECONDS,
  FAN_OUT_TIMEOUT_SECONDS,
  visibilityTimeoutSeconds,
} from './batch-queue-timeouts';
import type { BatchTable } from './batch-table';
import type { CircuitTable } from './counter-table';
import { MonitoredQueue } from './monitored-queue';
import { PlatformFunction } from './platform-function';
import { QueueEventSource } from './queue-event-source';
import type { RegistryTable } from './registry-table';
import type { TritonEndpoint } from './triton-endpoint';

const DEAD_LETTERS_TIMEOUT = Duration.seconds(DEAD_LETTERS_TIMEOUT_SECONDS);
/** The most messages a standard queue hands to one invocation without a batching window. */
const MAX_UNWINDOWED_BATCH_SIZE = 10;

export interface BatchPipelineProps {
  /** Jobs, chunks and results. */
  readonly table: BatchTable;
  /** The model registry, read to resolve a job's model, version and backends. */
  readonly registry: RegistryTable;
  /** The circuit breakers' table and settings, shared with the inference function. */
  readonly circuits: Pick<CircuitTable, 'bindCircuits'>;
  /** The endpoint the worker invokes (`TritonEndpoint`). */
  readonly endpoint: Pick<TritonEndpoint, 'bindInvoker'>;
  /** Receives of a submission or a chunk before it moves to its dead-letter queue. */
  readonly maxReceiveCount: number;
  /** Most worker invocations at once (the work queue event source's maximum concurrency, 2-1000). */
  readonly workerConcurrency: number;
  /** Chunks one worker invocation receives (1-10). */
  readonly workerBatchSize: number;
  /** Timeout of one worker invocation. */
  readonly workerTimeout: Duration;
  /**
   * How long a chunk waits for its model through an outage (every backend failing or its circuit
   * open), deferred on the work queue, before its items fail.
   */
  readonly outageBudget: Duration;
  /**
   * How long a running job may record no chunk before it ends with its unrecorded items failed;
   * longer than `outageBudget` plus `workerTimeout`, so no chunk still waiting for its model ends so.
   */
  readonly stallTimeout: Duration;
  /** Age of the oldest message on either queue above which that queue's alarm fires. */
  readonly oldestMessageAgeThreshold: Duration;
  /**
   * How long the worker waits for the endpoint on one item (`BACKEND_TIMEOUT_MS`); shorter than
   * `workerTimeout`.
   * @default Duration.seconds(61) - just above the 60 s SageMaker gives a container to answer
   */
  readonly backendTimeout?: Duration;
  /**
   * Timeout of one fan-out invocation; the submissions queue's visibility timeout is six times this.
   * @default Duration.minutes(5)
   */
  readonly fanOutTimeout?: Duration;
  /**
   * Folder the catalogue's function entries are relative to.
   * @default - the repository root
   */
  readonly projectRoot?: string;
}

/**
 * Batch inference behind the API: a submissions queue that the fan-out function drains, splitting
 * each job into chunks on a work queue that the worker drains at bounded concurrency. Both queues
 * have dead-letter queues and alarms (`MonitoredQueue`); both functions report partial batch
 * failures, so one bad message is retried alone and dead-lettered after `maxReceiveCount` receives.
 */
export class BatchPipeline extends Construct {
  public readonly submissions: MonitoredQueue;
  public readonly work: MonitoredQueue;
  public readonly fanOutFunction: PlatformFunction;
  public readonly workerFunction: PlatformFunction;
  /** Records the items of dead-lettered chunks and submissions as failed, so every job ends. */
  public readonly deadLettersFunction: PlatformFunction;
  /** Dead letters and oldest message age of both queues; the stack adds their actions. */
  public readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: BatchPipelineProps) {
    super(scope, id);
    const { table, registry, circuits, endpoint, maxReceiveCount } = props;
    const fanOutTimeout = props.fanOutTimeout ?? Duration.seconds(FAN_OUT_TIMEOUT_SECONDS);
    const backendTimeout = props.backendTimeout ?? Duration.millis(BACKEND_WAIT_MS);
    checkInteger('workerConcurrency', props.workerConcurrency, 2, 1000);
    checkInteger('workerBatchSize', props.workerBatchSize, 1, MAX_UNWINDOWED_BATCH_SIZE);
    // Each job keeps at most this many chunks queued or running, so jobs share the workers.
    const workWindow = String(batchWorkWindow(props.workerConcurrency, props.workerBatchSize));
    if (backendTimeout.toMilliseconds() >= props.workerTimeout.toMilliseconds()) {
      throw new Error(
        `backendTimeout must be shorter than workerTimeout (${props.workerTimeout.toSeconds()} s), got ${backendTimeout.toSeconds()} s`,
      );
    }

    if (props.stallTimeout.toSeconds() <= props.outageBudget.toSeconds() + props.workerTimeout.toSeconds()) {
      throw new Error(
        `stallTimeout must be longer than outageBudget plus workerTimeout (${props.outageBudget.toSeconds() + props.workerTimeout.toSeconds()} s), got ${props.stallTimeout.toSeconds()} s`,
      );
    }

    const deadLetterVisibilityTimeout = Duration.seconds(
      visibilityTimeoutSeconds(DEAD_LETTERS_TIMEOUT.toSeconds()),
    );
    this.submissions = new MonitoredQueue(this, 'Submissions', {
      description: 'Batch submissions',
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(fanOutTimeout.toSeconds())),
      maxReceiveCount,
      oldestMessageAgeThreshold: props.oldestMessageAgeThreshold,
      deadLetterVisibilityTimeout,
      urlVariable: ENV.SUBMISSIONS_QUEUE_URL,
    });
    this.work = new MonitoredQueue(this, 'Work', {
      description: 'Batch chunks',
      visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(props.workerTimeout.toSeconds())),
      maxReceiveCount,
      oldestMessageAgeThreshold: props.oldestMessageAgeThreshold,
      deadLetterVisibilityTimeout,
      urlVariable: ENV.WORK_QUEUE_URL,
    });
    // A job ended for making no progress means work went missing: someone should look.
    const stalled = new Alarm(this, 'StalledJobsAlarm', {
      alarmDescription: 'Batch jobs: a running job made no progress for the stall timeout and was ended',
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: METRIC.batchJobsStalled,
        dimensionsMap: { service: SERVICE_NAMES.batchFanOut },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.alarms = [...[this.submissions, this.work].flatMap((q) => q.alarms), stalled];

    // Fan-out: one submission becomes a job record, its chunks and one work message per chunk.
    this.fanOutFunction = new PlatformFunction(this, 'FanOutFunction', {
      spec: FUNCTIONS.batchFanOut,
      projectRoot: props.projectRoot,
      timeout: fanOutTimeout,
    });
    table.bindItemReadWrites(this.fanOutFunction);
    registry.bindModelReads(this.fanOutFunction);
    this.work.bindSender(this.fanOutFunction);
    // Each running job's stall check goes on the submissions queue, delayed, until the job ends.
    this.submissions.bindSender(this.fanOutFunction);
    this.fanOutFunction.addEnvironment(
      ENV.BATCH_STALL_TIMEOUT_SECONDS,
      String(props.stallTimeout.toSeconds()),
    );
    this.fanOutFunction.addEnvironment(ENV.BATCH_WORK_WINDOW, workWindow);
    this.fanOutFunction.addEventSource(
      // Fan-out is cheap per submission: take as many as one invocation can without a window.
      new QueueEventSource(this.submissions.queue, { batchSize: MAX_UNWINDOWED_BATCH_SIZE }),
    );
    // A failed submission comes back after a backoff, not after the queue's half hour.
    this.submissions.queue.grant(this.fanOutFunction, 'sqs:ChangeMessageVisibility');

    // Worker: the event source's maximum concurrency is what bounds batch load on the endpoints.
    this.workerFunction = new PlatformFunction(this, 'WorkerFunction', {
      spec: FUNCTIONS.batchWorker,
      projectRoot: props.projectRoot,
      timeout: props.workerTimeout,
      environment: {
        [ENV.BATCH_OUTAGE_BUDGET_SECONDS]: String(props.outageBudget.toSeconds()),
        [ENV.BACKEND_TIMEOUT_MS]: String(backendTimeout.toMilliseconds()),
        [ENV.BATCH_WORK_WINDOW]: workWindow,
      },
    });
    table.bindItemReadWrites(this.workerFunction);
    // A chunk whose model is down is sent again with a delay rather than redelivered.
    this.work.bindSender(this.workerFunction);
    registry.bindModelReads(this.workerFunction);
    // The same circuits as the inference function's.
    circuits.bindCircuits(this.workerFunction);
    endpoint.bindInvoker(this.workerFunction);
    this.workerFunction.addEventSource(
      new QueueEventSource(this.work.queue, {
        batchSize: props.workerBatchSize,
        maxConcurrency: props.workerConcurrency,
      }),
    );

    // Dead letters: a chunk or submission that failed every delivery still ends its job, with the
    // reason on its items, rather than leaving it RUNNING until someone redrives the queue.
    this.deadLettersFunction = new PlatformFunction(this, 'DeadLettersFunction', {
      spec: FUNCTIONS.batchDeadLetters,
      projectRoot: props.projectRoot,
      timeout: DEAD_LETTERS_TIMEOUT,
      environment: {
        [ENV.WORK_DEAD_LETTER_QUEUE_ARN]: this.work.deadLetterQueue.queueArn,
        [ENV.WORK_MAX_RECEIVE_COUNT]: String(maxReceiveCount),
      },
    });
    table.bindItemReadWrites(this.deadLettersFunction);
    for (const queue of [this.submissions, this.work]) {
      this.deadLettersFunction.addEventSource(
        new QueueEventSource(queue.deadLetterQueue, { batchSize: MAX_UNWINDOWED_BATCH_SIZE }),
      );
    }
  }
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}
