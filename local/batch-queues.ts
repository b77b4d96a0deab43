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
 * Seconds a received submission or dead letter stays hidden locally, so that a failed fan-out or
 * dead-letter record comes back in seconds. Their consumers' timeouts are not configuration, and their
 * redeliveries never hold a worker; the work queue follows the stack's rule (six worker timeouts).
 */
export const LOCAL_CONTROL_VISIBILITY_TIMEOUT_SECONDS = 5;

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
  readonly visibilityTimeoutSeconds: { readonly work: number; readonly others: number };
  readonly timeoutsMs: { readonly fanOut: number; readonly worker: number; readonly deadLetters: number };
  readonly submissions: LocalQueueSource;
  readonly work: LocalQueueSource;
  readonly deadLetters: LocalQueueSource;
}

export function localBatchQueues(config: PlatformConfig): LocalBatchQueues {
  return {
    maxReceiveCount: config.batchMaxReceiveCount,
    visibilityTimeoutSeconds: {
      // As the stack sets it: a chunk running longer than a few seconds is not delivered again
      // meanwhile, where the redelivery would take a worker from other jobs.
      work: visibilityTimeoutSeconds(config.batchWorkerTimeoutSeconds),
      others: LOCAL_CONTROL_VISIBILITY_TIMEOUT_SECONDS,
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
