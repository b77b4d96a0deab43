import { ChangeMessageVisibilityCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { logger } from '../observability/logger';

/** The first retry of a failed record, and the factor each delivery after it waits longer. */
const FIRST_RETRY_SECONDS = 5;
const GROWTH = 4;
/** The longest wait between deliveries. */
const LONGEST_RETRY_SECONDS = 300;

/**
 * Seconds until a record that failed on its `receiveCount`th delivery is delivered again: 5, 20,
 * 80, then 300. A brief failure (a throttled table) is retried within seconds, and the five
 * deliveries the queue allows (`batchMaxReceiveCount`, at least 5) span about seven minutes, so a
 * longer outage is ridden out before the record is dead-lettered.
 */
export function redeliveryDelaySeconds(receiveCount: number): number {
  const retries = Math.max(0, receiveCount - 1);
  return Math.min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * GROWTH ** retries);
}

/**
 * Makes a record the handler is about to report as failed visible again after its backoff. The
 * queue's own visibility timeout is six of its consumer's timeouts (Lambda's rule, so that a record
 * is never delivered again while an invocation holds it): for the fan-out half an hour, too long to
 * wait out a failure that a retry would fix. ChangeMessageVisibility counts the new timeout from
 * the call (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html).
 * Best effort: if the call fails, the record comes back after the queue's timeout.
 */
export async function redeliverAfterBackoff(
  sqs: SQSClient,
  queueUrl: string,
  record: SQSRecord,
): Promise<void> {
  const seconds = redeliveryDelaySeconds(Number(record.attributes.ApproximateReceiveCount) || 1);
  try {
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  } catch (error) {
    logger.warn('failed record keeps the queue visibility timeout', {
      messageId: record.messageId,
      reason: error instanceof Error ? error.message : String(error),
    });
  }
}
