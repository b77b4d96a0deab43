import { Names } from 'aws-cdk-lib';
import type { IEventSource, IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';

/** What Lambda's poller does with the consuming function's role on its queue. */
export const SQS_POLLER_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'];

export interface QueueEventSourceProps {
  /** At most 10: no batching window is set. */
  readonly batchSize: number;
  readonly maxConcurrency?: number;
}

/**
 * An SQS event source whose function's role holds on the queue exactly what Lambda's poller needs:
 * ReceiveMessage, DeleteMessage and GetQueueAttributes (SQS Developer Guide, "Configuring an Amazon
 * SQS queue to trigger an AWS Lambda function", prerequisites:
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-lambda-function-trigger.html).
 * CDK's `SqsEventSource` grants `grantConsumeMessages`, which adds ChangeMessageVisibility and
 * GetQueueUrl; a function that calls those itself is granted them where it calls them. Failures
 * are reported per message. The mapping keeps the id `SqsEventSource` gives it, so a deployed
 * stack keeps its mappings.
 */
export class QueueEventSource implements IEventSource {
  constructor(
    private readonly queue: IQueue,
    private readonly props: QueueEventSourceProps,
  ) {}

  bind(target: IFunction): void {
    target.addEventSourceMapping(`SqsEventSource:${Names.nodeUniqueId(this.queue.node)}`, {
      eventSourceArn: this.queue.queueArn,
      batchSize: this.props.batchSize,
      maxConcurrency: this.props.maxConcurrency,
      reportBatchItemFailures: true,
    });
    this.queue.grant(target, ...SQS_POLLER_ACTIONS);
  }
}
