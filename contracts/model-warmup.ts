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

/**
 * The most bytes one element of an input's `data` takes in the warm-up's JSON request
 * (`warmUpRequest` in functions/handlers/model-warmup/warm-up.ts): integers are 0 or 1, floats 0, 1
 * or `Math.random()`, whose shortest form (ECMAScript `Number::toString`) is at most `0.`, 5 zeros
 * and 17 digits, 24 characters (below 1e-6 the exponent form is shorter); BYTES quote it.
 */
function elementMaxBytes({ datatype, fill }: WarmUpInput): number {
  const random = 24;
  if (datatype === 'BOOL') return fill === 'one' ? 'true'.length : 'false'.length;
  if (datatype === 'BYTES') return 2 + (fill === 'zero' ? 0 : fill === 'one' ? 1 : random);
  return datatype.startsWith('FP') && fill === 'random' ? random : 1;
}

/** The elements of an input: the product of its shape, counted without allocating them. */
export function warmUpElementCount(input: WarmUpInput): number {
  // 0 × Infinity would be NaN: any 0 dimension empties the tensor.
  return input.shape.includes(0) ? 0 : input.shape.reduce((product, dim) => product * dim, 1);
}

/** The most bytes an input's `data` array takes in the request: elements and commas. */
export function warmUpDataBytes(input: WarmUpInput): number {
  const count = warmUpElementCount(input);
  return count === 0 ? 0 : count * (elementMaxBytes(input) + 1) - 1;
}

/**
 * The most bytes the warm-up's JSON request for these inputs takes, computed from their shapes and
 * datatypes before any element is built: exact for zeros and ones, an upper bound for random data.
 */
export function warmUpRequestBytes(inputs: readonly WarmUpInput[]): number {
  const frame = JSON.stringify({
    inputs: inputs.map(({ name, shape, datatype }) => ({ name, shape, datatype, data: [] })),
  });
  return inputs.reduce(
    (bytes, input) => bytes + warmUpDataBytes(input),
    new TextEncoder().encode(frame).length,
  );
}
