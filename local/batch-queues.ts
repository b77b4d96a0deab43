import * as z from 'zod';
import {
  DEAD_LETTERS_TIMEOUT_SECONDS,
  FAN_OUT_TIMEOUT_SECONDS,
  visibilityTimeoutSeconds,
} from '../lib/batch-queue-timeouts';
import type { PlatformConfig } from '../lib/config';

/**
 * The batch queues and their event sources as the local platform creates them, from the same
 * configuration the stack reads. `test/fidelity/queues.test.ts` compares them with the template.
 */

/**
 * A worker timeout for the local platform alone, from `LOCAL_CONTEXT`: tests that crash workers set
 * a short one, so that the work queue (hidden for six worker timeouts, as deployed) redelivers soon.
 * Lambda accepts 1-900 s (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html);
 * the deployed minimum of 90 s leaves room for a whole InvokeEndpoint wait, which local tests do not need.
 */
export const LocalWorkerTimeoutSchema = z.coerce.number().int().min(1).max(900);

/** The most messages a standard queue hands to one invocation without a batching window. */
const MAX_UNWINDOWED_BATCH_SIZE = 10;
/**
 * Batches Lambda processes at once from a standard queue whose event source sets no maximum
 * concurrency, as it starts: five (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
 * A submission then never waits for another job's fan-out.
 */
const UNBOUNDED_SOURCE_CONCURRENCY = 5;

export interface LocalQueueSource {
  /** Records per invocation. */
  readonly batchSize: number;
  /** Invocations in flight at once. */
  readonly maxConcurrency: number;
}

export interface LocalBatchQueues {
  /** Receives before a submission or chunk moves to its dead-letter queue. */
  readonly maxReceiveCount: number;
  /** Six of each consumer's timeouts, as the stack sets them. */
  readonly visibilityTimeoutSeconds: {
    readonly submissions: number;
    readonly work: number;
    readonly deadLetters: number;
  };
  readonly timeoutsMs: { readonly fanOut: number; readonly worker: number; readonly deadLetters: number };
  readonly submissions: LocalQueueSource;
  readonly work: LocalQueueSource;
  readonly deadLetters: LocalQueueSource;
}

export function localBatchQueues(config: PlatformConfig): LocalBatchQueues {
  return {
    maxReceiveCount: config.batchMaxReceiveCount,
    // As the stack sets them, so that no message is delivered again while an invocation still holds
    // it, however slow a busy machine makes that invocation. A failed submission comes back sooner:
    // the fan-out shortens its visibility (functions/batch/redelivery.ts).
    visibilityTimeoutSeconds: {
      submissions: visibilityTimeoutSeconds(FAN_OUT_TIMEOUT_SECONDS),
      work: visibilityTimeoutSeconds(config.batchWorkerTimeoutSeconds),
      deadLetters: visibilityTimeoutSeconds(DEAD_LETTERS_TIMEOUT_SECONDS),
    },
    timeoutsMs: {
      fanOut: FAN_OUT_TIMEOUT_SECONDS * 1000,
      worker: config.batchWorkerTimeoutSeconds * 1000,
      deadLetters: DEAD_LETTERS_TIMEOUT_SECONDS * 1000,
    },
    submissions: { batchSize: MAX_UNWINDOWED_BATCH_SIZE, maxConcurrency: UNBOUNDED_SOURCE_CONCURRENCY },
    // Lambda scales the dead-letter pollers too; one is enough locally, as no job's work waits for it.
    work: { batchSize: config.batchWorkerBatchSize, maxConcurrency: config.batchWorkerConcurrency },
    deadLetters: { batchSize: MAX_UNWINDOWED_BATCH_SIZE, maxConcurrency: 1 },
  };
}
