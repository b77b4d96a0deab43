import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, MathExpression, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Grant } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The longest SQS keeps a message: dead letters wait that long for someone to look at them. */
const DEAD_LETTER_RETENTION = Duration.days(14);
/** SQS publishes queue metrics once a minute. */
const METRIC_PERIOD = Duration.minutes(1);
/**
 * Minutes a message must stay on the dead-letter queue, received or not, before its alarm fires:
 * longer than one invocation of its consumer (at most a sixth of its visibility timeout), so a dead
 * letter recorded and deleted by the invocation that received it never alarms; and shorter than the
 * consumers' visibility timeouts (test/infra/operations.test.ts checks both), so one its consumer
 * failed alarms while it waits hidden for its next receive.
 */
const DEAD_LETTER_ALARM_MINUTES = 5;

export interface MonitoredQueueProps {
  /**
   * How long a received message stays hidden from other consumers. Set it to at least six times the
   * timeout of the function that consumes the queue, so that retries of a throttled or slow
   * invocation do not hand the same message to a second consumer.
   */
  readonly visibilityTimeout: Duration;
  /**
   * The dead-letter queue's visibility timeout, when a function consumes it (at least six times
   * that function's timeout, as for the queue).
   * @default Duration.seconds(30) - SQS's default
   */
  readonly deadLetterVisibilityTimeout?: Duration;
  /** Receives of a message before SQS moves it to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /** Age of the oldest message on the queue above which its alarm fires. */
  readonly oldestMessageAgeThreshold: Duration;
  /** The environment variable in which senders find the queue's URL (`bindSender`). */
  readonly urlVariable: string;
  /**
   * What the queue carries, used in the alarm descriptions.
   * @default - the construct id
   */
  readonly description?: string;
}

/**
 * An SQS queue with a dead-letter queue, both encrypted with SQS-managed keys and reachable over
 * TLS only, and two alarms: one for a message that stays on the dead-letter queue, one for a
 * message waiting on the queue longer than `oldestMessageAgeThreshold`. Whoever owns the alarm
 * topic adds the actions (`alarms`), so a queue is not tied to one notification channel.
 *
 * SQS-managed encryption rather than a KMS key: the messages carry identifiers only (payloads live
 * in DynamoDB), and a customer key would add a key policy, `kms:Decrypt` for every consumer and
 * per-request KMS calls for no access boundary that the queue policies do not already draw.
 */
export class MonitoredQueue extends Construct {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  /** Fires when a message stays on the dead-letter queue, visible or in flight, for some minutes. */
  public readonly deadLetterAlarm: Alarm;
  /** Fires when the queue's oldest message is older than the threshold. */
  public readonly oldestMessageAlarm: Alarm;

  private readonly urlVariable: string;

  /** Both alarms, for adding actions. */
  public get alarms(): readonly Alarm[] {
    return [this.deadLetterAlarm, this.oldestMessageAlarm];
  }

  constructor(scope: Construct, id: string, props: MonitoredQueueProps) {
    super(scope, id);
    if (
      !Number.isInteger(props.maxReceiveCount) ||
      props.maxReceiveCount < 1 ||
      props.maxReceiveCount > 1000
    ) {
      throw new Error(`maxReceiveCount must be an integer from 1 to 1000, got ${props.maxReceiveCount}`);
    }
    const description = props.description ?? id;
    this.urlVariable = props.urlVariable;

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
      visibilityTimeout: props.deadLetterVisibilityTimeout,
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });

    // A consumer that returns a dead letter as a batch item failure keeps it in flight (received, not
    // deleted) for its whole visibility timeout, visible for a moment between receives; SQS counts
    // in-flight messages in ApproximateNumberOfMessagesNotVisible only ("Available CloudWatch
    // metrics for Amazon SQS"), so the alarm counts both.
    const maximum = { period: METRIC_PERIOD, statistic: 'Maximum' };
    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: `${description}: a message that failed ${props.maxReceiveCount} receives has stayed on the dead-letter queue ${DEAD_LETTER_ALARM_MINUTES} minutes without being recorded`,
      metric: new MathExpression({
        expression: 'visible + inFlight',
        usingMetrics: {
          visible: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible(maximum),
          inFlight: this.deadLetterQueue.metricApproximateNumberOfMessagesNotVisible(maximum),
        },
        period: METRIC_PERIOD,
        label: 'Dead letters, visible or in flight',
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: DEAD_LETTER_ALARM_MINUTES,
      datapointsToAlarm: DEAD_LETTER_ALARM_MINUTES,
      // SQS stops publishing metrics for a queue that has been empty for a while.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.oldestMessageAlarm = new Alarm(this, 'OldestMessageAlarm', {
      alarmDescription: `${description}: the oldest message has waited longer than ${props.oldestMessageAgeThreshold.toSeconds()} s`,
      metric: this.queue.metricApproximateAgeOfOldestMessage({ period: METRIC_PERIOD, statistic: 'Maximum' }),
      threshold: props.oldestMessageAgeThreshold.toSeconds(),
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * Tells `fn` the queue's URL and lets it send messages there: `sqs:SendMessage`, which also
   * covers SendMessageBatch (SQS has no separate permission for batch actions). Unlike
   * `grantSendMessages`, no GetQueueAttributes or GetQueueUrl, which senders never call; and no KMS
   * permission, as SQS-managed encryption needs none.
   */
  public bindSender(fn: LambdaFunction): Grant {
    fn.addEnvironment(this.urlVariable, this.queue.queueUrl);
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['sqs:SendMessage'],
      resourceArns: [this.queue.queueArn],
    });
  }
}
