import type { PlatformConfig } from '../lib/config';

/**
 * The batch queues and their event sources as the local platform creates them, from the same
 * configuration the stack reads. `test/fidelity/queues.test.ts` compares them with the template.
 */

/**
 * Seconds a received message stays hidden locally. The stack hides it for six times the consuming
 * function's timeout (12 to 30 minutes), as Lambda asks; locally a failed record comes back after 5 s
 * so that retries and dead-lettering take seconds. The cost: an invocation that runs longer than this
 * sees its message delivered again meanwhile, which batch accounting absorbs (it counts each item once).
 */
export const LOCAL_VISIBILITY_TIMEOUT_SECONDS = 5;

/** The stack's fan-out and dead-letter function timeouts (`lib/batch-pipeline.ts`). */
const FAN_OUT_TIMEOUT_MS = 5 * 60_000;
const DEAD_LETTERS_TIMEOUT_MS = 60_000;
/** The most messages a standard queue hands to one invocation without a batching window. */
const MAX_UNWINDOWED_BATCH_SIZE = 10;

export interface LocalQueueSource {
  /** Records per invocation. */
  readonly batchSize: number;
  /** Invocations in flight at once. */
  readonly maxConcurrency: number;
}

export interface LocalBatchQueues {
  /** Receives before a submission or chunk moves to its dead-letter queue. */
  readonly maxReceiveCount: number;
  readonly visibilityTimeoutSeconds: number;
  readonly timeoutsMs: { readonly fanOut: number; readonly worker: number; readonly deadLetters: number };
  readonly submissions: LocalQueueSource;
  readonly work: LocalQueueSource;
  readonly deadLetters: LocalQueueSource;
}

export function localBatchQueues(config: PlatformConfig): LocalBatchQueues {
  return {
    maxReceiveCount: config.batchMaxReceiveCount,
    visibilityTimeoutSeconds: LOCAL_VISIBILITY_TIMEOUT_SECONDS,
    timeoutsMs: {
      fanOut: FAN_OUT_TIMEOUT_MS,
      worker: config.batchWorkerTimeoutSeconds * 1000,
      deadLetters: DEAD_LETTERS_TIMEOUT_MS,
    },
    // Lambda scales the fan-out and dead-letter pollers itself; one poller each is enough locally.
    submissions: { batchSize: MAX_UNWINDOWED_BATCH_SIZE, maxConcurrency: 1 },
    work: { batchSize: config.batchWorkerBatchSize, maxConcurrency: config.batchWorkerConcurrency },
    deadLetters: { batchSize: MAX_UNWINDOWED_BATCH_SIZE, maxConcurrency: 1 },
  };
}
