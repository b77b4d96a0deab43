import { Duration } from 'aws-cdk-lib';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import { SERVICE_NAMES } from '../contracts/metric-catalog';
import type { CircuitSettings } from '../contracts/settings';
import type { BatchTable } from './batch-table';
import { MonitoredQueue } from './monitored-queue';
import { PlatformFunction } from './platform-function';
import type { RegistryTable } from './registry-table';
import type { TritonEndpoint } from './triton-endpoint';

/** SQS asks for a visibility timeout of at least six times the consuming function's timeout. */
const VISIBILITY_TIMEOUT_FACTOR = 6;
/** The most messages a standard queue hands to one invocation without a batching window. */
const MAX_UNWINDOWED_BATCH_SIZE = 10;

export const BATCH_FUNCTIONS = {
  fanOut: {
    entry: 'functions/handlers/batch-fan-out/handler.ts',
    description: 'Batch inference: validates submitted jobs and splits them into chunks on the work queue',
  },
  worker: {
    entry: 'functions/handlers/batch-worker/handler.ts',
    description: 'Batch inference: runs the items of each chunk against the model endpoint',
  },
} as const;

export interface BatchPipelineProps {
  /** Jobs, chunks and results. */
  readonly table: BatchTable;
  /** The model registry, read to resolve a job's model, version and backends. */
  readonly registry: RegistryTable;
  /** The circuit breakers' table, shared with the inference function. */
  readonly circuits: ITable;
  /** Settings of those circuit breakers (`CIRCUIT_SETTINGS`). */
  readonly circuitSettings: CircuitSettings;
  /** The endpoint the worker invokes (`TritonEndpoint`). */
  readonly endpoint: Pick<TritonEndpoint, 'grantInvoke'>;
  /** Receives of a submission or a chunk before it moves to its dead-letter queue. */
  readonly maxReceiveCount: number;
  /** Most worker invocations at once (the work queue event source's maximum concurrency, 2-1000). */
  readonly workerConcurrency: number;
  /** Chunks one worker invocation receives (1-10). */
  readonly workerBatchSize: number;
  /** Timeout of one worker invocation. */
  readonly workerTimeout: Duration;
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
   * Folder the function entries in `BATCH_FUNCTIONS` are relative to.
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
  /** Dead letters and oldest message age of both queues; the stack adds their actions. */
  public readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: BatchPipelineProps) {
    super(scope, id);
    const { table, registry, circuits, endpoint, maxReceiveCount } = props;
    const fanOutTimeout = props.fanOutTimeout ?? Duration.minutes(5);
    const backendTimeout = props.backendTimeout ?? Duration.seconds(61);
    checkInteger('workerConcurrency', props.workerConcurrency, 2, 1000);
    checkInteger('workerBatchSize', props.workerBatchSize, 1, MAX_UNWINDOWED_BATCH_SIZE);
    if (backendTimeout.toMilliseconds() >= props.workerTimeout.toMilliseconds()) {
      throw new Error(
        `backendTimeout must be shorter than workerTimeout (${props.workerTimeout.toSeconds()} s), got ${backendTimeout.toSeconds()} s`,
      );
    }

    this.submissions = new MonitoredQueue(this, 'Submissions', {
      description: 'Batch submissions',
      visibilityTimeout: Duration.seconds(fanOutTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR),
      maxReceiveCount,
      oldestMessageAgeThreshold: props.oldestMessageAgeThreshold,
    });
    this.work = new MonitoredQueue(this, 'Work', {
      description: 'Batch chunks',
      visibilityTimeout: Duration.seconds(props.workerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR),
      maxReceiveCount,
      oldestMessageAgeThreshold: props.oldestMessageAgeThreshold,
    });
    this.alarms = [this.submissions, this.work].flatMap((q) => q.alarms);

    // Fan-out: one submission becomes a job record, its chunks and one work message per chunk.
    this.fanOutFunction = new PlatformFunction(this, 'FanOutFunction', {
      ...BATCH_FUNCTIONS.fanOut,
      serviceName: SERVICE_NAMES.batchFanOut,
      projectRoot: props.projectRoot,
      timeout: fanOutTimeout,
      environment: {
        BATCH_TABLE_NAME: table.table.tableName,
        REGISTRY_TABLE_NAME: registry.table.tableName,
        WORK_QUEUE_URL: this.work.queue.queueUrl,
      },
    });
    table.grantItemReadWrites(this.fanOutFunction);
    registry.grantModelReads(this.fanOutFunction);
    this.work.queue.grantSendMessages(this.fanOutFunction);
    this.fanOutFunction.addEventSource(
      new SqsEventSource(this.submissions.queue, {
        // Fan-out is cheap per submission: take as many as one invocation can without a window.
        batchSize: MAX_UNWINDOWED_BATCH_SIZE,
        reportBatchItemFailures: true,
      }),
    );

    // Worker: the event source's maximum concurrency is what bounds batch load on the endpoints.
    this.workerFunction = new PlatformFunction(this, 'WorkerFunction', {
      ...BATCH_FUNCTIONS.worker,
      serviceName: SERVICE_NAMES.batchWorker,
      projectRoot: props.projectRoot,
      timeout: props.workerTimeout,
      environment: {
        BATCH_TABLE_NAME: table.table.tableName,
        REGISTRY_TABLE_NAME: registry.table.tableName,
        CIRCUIT_TABLE_NAME: circuits.tableName,
        CIRCUIT_SETTINGS: JSON.stringify(props.circuitSettings),
        // Tells the worker a chunk's last receive, after which SQS dead-letters it, from a retry.
        WORK_MAX_RECEIVE_COUNT: String(maxReceiveCount),
        BACKEND_TIMEOUT_MS: String(backendTimeout.toMilliseconds()),
      },
    });
    table.grantItemReadWrites(this.workerFunction);
    registry.grantModelReads(this.workerFunction);
    // The same circuit access as the inference function: cached reads, writes on failures and probes.
    circuits.grant(this.workerFunction, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    endpoint.grantInvoke(this.workerFunction);
    this.workerFunction.addEventSource(
      new SqsEventSource(this.work.queue, {
        batchSize: props.workerBatchSize,
        maxConcurrency: props.workerConcurrency,
        reportBatchItemFailures: true,
      }),
    );
  }
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}
