/**
 * The warm-up of a pushed version: the message the upload completion queues, and the timings the
 * stack, the local platform and the warm-up function share. Rules and sources: docs/shipping-models.md.
 */
import { DATATYPES } from './model-signature';
import { MODEL_NAME, MODEL_VERSION } from './registry-schemas';
import { BACKEND_WAIT_MS } from './sagemaker-limits';
import * as z from './zod';

/** One invocation: a whole InvokeEndpoint wait (`WARMUP_BACKEND_TIMEOUT_MS`) and the registry writes. */
export const WARMUP_FUNCTION_TIMEOUT_SECONDS = 90;
/**
 * How long one warm-up inference waits for the endpoint, retrying its loading answers meanwhile:
 * just above the 60 s SageMaker gives a container to answer InvokeEndpoint.
 */
export const WARMUP_BACKEND_TIMEOUT_MS = BACKEND_WAIT_MS;
/**
 * How long after the upload completes a version may stay LOADING: past it, the next loading answer
 * or timeout marks it FAILED. A multi-model endpoint downloads and loads a model on its first
 * request; large models take minutes.
 */
export const WARMUP_BUDGET_SECONDS = 15 * 60;
/** Delay before the first retry after a loading answer; doubled each time, up to the maximum. */
export const WARMUP_RETRY_FIRST_DELAY_SECONDS = 15;
/** SQS delays a message at most 900 s; a retry waits at most this. */
export const WARMUP_RETRY_MAX_DELAY_SECONDS = 120;
/**
 * Deliveries of one warm-up message (a crash or a registry failure) before it is dead-lettered: 5,
 * the least Lambda advises for an SQS event source, so that throttled invocations (the function
 * shares the account's concurrency with the API) do not fail a version that loads
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html).
 */
export const WARMUP_MAX_RECEIVE_COUNT = 5;

/** How a warm-up input is filled: Triton's `zero_data` and `random_data`, and ones. */
export const WARMUP_FILLS = ['zero', 'one', 'random'] as const;

export const WarmUpInputSchema = z.object({
  name: z.string().check(z.minLength(1), z.maxLength(128)),
  datatype: z.enum(DATATYPES),
  /** The whole shape the request sends, batch dimension included; every dimension known. */
  shape: z.array(z.number().check(z.int(), z.minimum(0))).check(z.maxLength(16)),
  fill: z.enum(WARMUP_FILLS),
});
export type WarmUpInput = z.infer<typeof WarmUpInputSchema>;

export const WarmUpMessageSchema = z.object({
  name: z.string().check(z.regex(MODEL_NAME)),
  version: z.string().check(z.regex(MODEL_VERSION)),
  /** The archive the version was registered with: a version since moved to another is left alone. */
  archive: z.string().check(z.minLength(1), z.maxLength(1024)),
  inputs: z.array(WarmUpInputSchema).check(z.minLength(1), z.maxLength(64)),
  /** Where the inputs come from, for the log and the FAILED reason. */
  source: z.enum(['signature', 'model_warmup']),
  /** When the upload completed: the budget runs from here. */
  enqueuedAt: z.string(),
  /** Warm-up inferences already answered with a loading answer or a timeout. */
  attempt: z.number().check(z.int(), z.minimum(0)),
});
export type WarmUpMessage = z.infer<typeof WarmUpMessageSchema>;

/** Seconds before retry `attempt` (0 for the first retry): doubling from the first delay, capped. */
export function warmUpRetryDelaySeconds(attempt: number): number {
  return Math.min(WARMUP_RETRY_FIRST_DELAY_SECONDS * 2 ** attempt, WARMUP_RETRY_MAX_DELAY_SECONDS);
}
