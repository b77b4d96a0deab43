import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type WarmUpMessage, WarmUpMessageSchema } from '../../contracts/model-warmup';

/** The queue of warm-up inferences: the upload completion sends the first, the warm-up its retries. */
export class WarmUpQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  /** Queues a warm-up, delivered after `delaySeconds` (SQS allows 0-900). */
  async send(message: WarmUpMessage, delaySeconds = 0): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(WarmUpMessageSchema.parse(message)),
        DelaySeconds: delaySeconds,
      }),
    );
  }
}
