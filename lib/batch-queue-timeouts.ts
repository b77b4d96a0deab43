/**
 * The batch functions' timeouts and the rule that sets their queues' visibility timeouts, read by the
 * stack (`batch-pipeline.ts`) and by the local platform (`local/batch-queues.ts`) alike.
 */

/**
 * Lambda asks for a queue's visibility timeout to be at least six times its consuming function's
 * timeout, so a message is not delivered again while an invocation still holds it
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/** The fan-out function's timeout unless the stack is given another. */
export const FAN_OUT_TIMEOUT_SECONDS = 5 * 60;

/** The dead-letter function's timeout: a dead-lettered submission fails every chunk of its job. */
export const DEAD_LETTERS_TIMEOUT_SECONDS = 60;

/** Seconds a received message stays hidden, for a consumer with this timeout. */
export function visibilityTimeoutSeconds(consumerTimeoutSeconds: number): number {
  return consumerTimeoutSeconds * VISIBILITY_TIMEOUT_FACTOR;
}
