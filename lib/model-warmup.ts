import { Duration } from 'aws-cdk-lib';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { Grant } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import * as ENV from '../contracts/environment-variables';
import { FUNCTIONS } from '../contracts/functions';
import {
  WARMUP_BACKEND_TIMEOUT_MS,
  WARMUP_BUDGET_SECONDS,
  WARMUP_FUNCTION_TIMEOUT_SECONDS,
  WARMUP_MAX_RECEIVE_COUNT,
} from '../contracts/model-warmup';
import { visibilityTimeoutSeconds } from './batch-queue-timeouts';
import type { CircuitTable } from './counter-table';
import { MonitoredQueue } from './monitored-queue';
import { PlatformFunction } from './platform-function';
import { QueueEventSource } from './queue-event-source';
import type { RegistryTable } from './registry-table';
import type { TritonEndpoint } from './triton-endpoint';

export interface ModelWarmUpProps {
  /** The registry: the warm-up reads a version and ends its LOADING. */
  readonly registry: Pick<RegistryTable, 'table'>;
  /** The circuits the inference function uses, so a warm-up counts as realtime traffic does. */
  readonly circuits: Pick<CircuitTable, 'bindCircuits'>;
  /** The endpoint the warm-up invokes. */
  readonly endpoint: Pick<TritonEndpoint, 'bindInvoker'>;
  /**
   * Folder the catalogue's function entries are relative to.
   * @default - the repository root
   */
  readonly projectRoot?: string;
}

/**
 * The warm-up of pushed versions: a queue (encrypted, TLS only, dead-letter queue and alarms) that
 * the upload completion feeds, drained one message at a time by a function that sends each version
 * its warm-up inference and marks it ACTIVE or FAILED, queuing itself again, delayed, while the
 * model loads. The same function drains the dead-letter queue, failing the versions there.
 */
export class ModelWarmUp extends Construct {
  public readonly queue: MonitoredQueue;
  public readonly function: PlatformFunction;

  /** The queue's dead-letter and oldest-message alarms; the stack adds their actions. */
  public get alarms(): readonly Alarm[] {
    return this.queue.alarms;
  }

  constructor(scope: Construct, id: string, props: ModelWarmUpProps) {
    super(scope, id);
    const visibilityTimeout = Duration.seconds(visibilityTimeoutSeconds(WARMUP_FUNCTION_TIMEOUT_SECONDS));
    this.queue = new MonitoredQueue(this, 'Queue', {
      description: 'Model warm-ups',
      visibilityTimeout,
      // The function drains it too, so it hides a received message as long as the queue does.
      deadLetterVisibilityTimeout: visibilityTimeout,
      maxReceiveCount: WARMUP_MAX_RECEIVE_COUNT,
      // A warm-up waits at most its budget; one waiting longer is stuck.
      oldestMessageAgeThreshold: Duration.seconds(WARMUP_BUDGET_SECONDS),
      urlVariable: ENV.WARMUP_QUEUE_URL,
    });
    this.function = new PlatformFunction(this, 'Function', {
      spec: FUNCTIONS.modelWarmup,
      projectRoot: props.projectRoot,
      timeout: Duration.seconds(WARMUP_FUNCTION_TIMEOUT_SECONDS),
      environment: { [ENV.BACKEND_TIMEOUT_MS]: String(WARMUP_BACKEND_TIMEOUT_MS) },
    });
    // GetItem and a conditional UpdateItem of one version (WarmUpStatus), nothing else.
    this.function.addEnvironment(ENV.REGISTRY_TABLE_NAME, props.registry.table.tableName);
    Grant.addToPrincipal({
      grantee: this.function,
      actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
      resourceArns: [props.registry.table.tableArn],
    });
    props.circuits.bindCircuits(this.function);
    props.endpoint.bindInvoker(this.function);
    // A warm-up that meets a loading model goes back on the queue, delayed.
    this.queue.bindSender(this.function);
    // A warm-up that failed every delivery ends its version FAILED from the dead-letter queue, rather
    // than leave it LOADING.
    this.function.addEnvironment(ENV.WARMUP_DEAD_LETTER_QUEUE_ARN, this.queue.deadLetterQueue.queueArn);
    for (const queue of [this.queue.queue, this.queue.deadLetterQueue]) {
      this.function.addEventSource(new QueueEventSource(queue, { batchSize: 1 }));
    }
  }
}
