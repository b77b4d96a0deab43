import { WARMUP_FUNCTION_TIMEOUT_SECONDS, WARMUP_MAX_RECEIVE_COUNT } from '../contracts/model-warmup';
import { visibilityTimeoutSeconds } from '../lib/batch-queue-timeouts';
import type { LocalSqs } from './aws/sqs';

/**
 * The warm-up queue and its event source as the local platform creates them, with the stack's
 * settings (`lib/model-warmup.ts`); `test/fidelity/warm-up-queue.test.ts` compares the two.
 */
export const WARMUP_QUEUE = 'inference-platform-model-warmup';

export const LOCAL_WARMUP_SOURCE = {
  /** One warm-up per invocation, as the stack's event source sets it. */
  batchSize: 1,
  /**
   * Batches Lambda processes at once from a standard queue whose event source sets no maximum
   * concurrency, as it starts: five (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
   */
  maxConcurrency: 5,
  timeoutMs: WARMUP_FUNCTION_TIMEOUT_SECONDS * 1000,
} as const;

/**
 * The queue and its dead-letter queue, which the warm-up function drains too: both hidden six
 * function timeouts per receive.
 */
export async function createWarmUpQueue(sqs: LocalSqs) {
  const visibility = String(visibilityTimeoutSeconds(WARMUP_FUNCTION_TIMEOUT_SECONDS));
  const deadLetters = await sqs.createQueue(`${WARMUP_QUEUE}-dlq`, { VisibilityTimeout: visibility });
  const queue = await sqs.createQueue(WARMUP_QUEUE, {
    VisibilityTimeout: visibility,
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetters.queueArn,
      maxReceiveCount: WARMUP_MAX_RECEIVE_COUNT,
    }),
  });
  return { queue, deadLetters };
}
