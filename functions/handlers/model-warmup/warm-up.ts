import {
  WARMUP_BUDGET_SECONDS,
  WARMUP_MAX_RECEIVE_COUNT,
  type WarmUpInput,
  type WarmUpMessage,
  warmUpElementCount,
  warmUpRequestBytes,
  warmUpRetryDelaySeconds,
} from '../../../contracts/model-warmup';
import { SAGEMAKER_MAX_PAYLOAD_BYTES } from '../../../contracts/sagemaker-limits';
import {
  BackendFailedError,
  BackendTimeoutError,
  BackendUnavailableError,
  PlatformError,
} from '../../edge/errors';
import { ModelLoadingError } from '../../inference/sagemaker-backend';
import { type InferenceDependencies, inferChecked } from '../../inference/service';
import { logger } from '../../observability/logger';
import type { WarmUpQueue } from '../../registry/warm-up-queue';
import type { WarmUpStatus } from '../../registry/warm-up-status';

export interface WarmUpDependencies {
  readonly inference: InferenceDependencies;
  readonly status: Pick<WarmUpStatus, 'get' | 'settle'>;
  readonly queue: Pick<WarmUpQueue, 'send'>;
  readonly now?: () => Date;
}

export type WarmUpOutcome = 'ACTIVE' | 'FAILED' | 'RETRY' | 'SKIPPED';

/**
 * One warm-up: sends the version's sample through the realtime backend path (its circuits, its
 * loading retries). Success makes it ACTIVE; the model's own rejection (or a request the endpoint
 * refuses) makes it FAILED with that message; a loading answer, a timeout or an unavailable or
 * failing endpoint queues the warm-up again, delayed, until `WARMUP_BUDGET_SECONDS` after the
 * upload, then FAILED with the last answer. A request larger than InvokeEndpoint accepts is never
 * built: FAILED at once, as no delivery could send it. Anything else is thrown, so the message is
 * delivered again; on its last delivery (`lastDelivery`) the version is marked FAILED with that error instead,
 * so that no version stays LOADING behind a dead-lettered warm-up while the registry can be written.
 */
export async function warmUp(
  deps: WarmUpDependencies,
  message: WarmUpMessage,
  options: { readonly lastDelivery?: boolean } = {},
): Promise<WarmUpOutcome> {
  const now = deps.now ?? (() => new Date());
  const named = `model '${message.name}' version ${message.version}`;
  const version = await deps.status.get(message.name, message.version);
  if (version?.status !== 'LOADING' || version.backends[0]?.targetModel !== message.archive) {
    logger.info('warm-up skipped: the version is no longer loading this archive', {
      model: message.name,
      version: message.version,
      status: version?.status ?? 'deleted',
    });
    return 'SKIPPED';
  }
  const settle = async (outcome: Parameters<WarmUpStatus['settle']>[2]) => {
    const changed = await deps.status.settle(version, message.archive, outcome, now().toISOString());
    logger.info(`warm-up ended: ${outcome.status}`, {
      model: message.name,
      version: message.version,
      changed,
      ...(outcome.status === 'FAILED' ? { reason: outcome.reason } : {}),
    });
    return outcome.status;
  };
  // Sized before it is built: an archive registered before the upload checked its sample's size
  // would otherwise exhaust the heap, or throw a RangeError, on every delivery.
  const bytes = warmUpRequestBytes(message.inputs);
  if (bytes > SAGEMAKER_MAX_PAYLOAD_BYTES) {
    return await settle({
      status: 'FAILED',
      reason: `the warm-up request of ${named} (from the ${message.source}) would take up to ${bytes} bytes, over the ${SAGEMAKER_MAX_PAYLOAD_BYTES} an endpoint accepts; push the version again with a smaller model_warmup sample`,
    });
  }
  try {
    await inferChecked(deps.inference, version, {
      body: new TextEncoder().encode(JSON.stringify(warmUpRequest(message.inputs))),
      contentType: 'application/json',
    });
    return await settle({ status: 'ACTIVE' });
  } catch (error) {
    if (!(error instanceof PlatformError)) {
      if (!options.lastDelivery) throw error;
      return await settle({
        status: 'FAILED',
        reason: `the warm-up of ${named} failed on all ${WARMUP_MAX_RECEIVE_COUNT} deliveries: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
    if (!isTransient(error)) {
      return await settle({
        status: 'FAILED',
        reason: `${error.message} (warm-up from the ${message.source})`,
      });
    }
    const delay = warmUpRetryDelaySeconds(message.attempt);
    const deadline = Date.parse(message.enqueuedAt) + WARMUP_BUDGET_SECONDS * 1000;
    if (now().getTime() + delay * 1000 > deadline) {
      return await settle({
        status: 'FAILED',
        reason: `${named} did not answer its warm-up within ${WARMUP_BUDGET_SECONDS} s of its upload; last answer: ${error.message}`,
      });
    }
    logger.info('warm-up retried later', {
      model: message.name,
      version: message.version,
      attempt: message.attempt + 1,
      delaySeconds: delay,
      answer: error.message,
    });
    await deps.queue.send({ ...message, attempt: message.attempt + 1 }, delay);
    return 'RETRY';
  }
}

/**
 * A warm-up that failed every delivery without settling its version (the function crashed or ran
 * out of time each time, or the registry could not be written) reaches the dead-letter queue: its
 * version, if still LOADING that archive, ends FAILED there, so that no version waits for a warm-up
 * that will never come. A registry error is thrown, for the dead-letter queue to deliver it again.
 */
export async function failDeadLettered(
  deps: Pick<WarmUpDependencies, 'status' | 'now'>,
  message: WarmUpMessage,
): Promise<'FAILED' | 'SKIPPED'> {
  const version = await deps.status.get(message.name, message.version);
  const reason = `the warm-up of model '${message.name}' version ${message.version} failed on all ${WARMUP_MAX_RECEIVE_COUNT} deliveries without an answer (the function failed or timed out each time) and was dead-lettered; push the version again`;
  const changed =
    version !== undefined &&
    (await deps.status.settle(
      version,
      message.archive,
      { status: 'FAILED', reason },
      (deps.now ?? (() => new Date()))().toISOString(),
    ));
  logger.error('dead-lettered warm-up', {
    model: message.name,
    version: message.version,
    status: changed ? 'FAILED' : (version?.status ?? 'deleted'),
  });
  return changed ? 'FAILED' : 'SKIPPED';
}

/**
 * Answers that say the model is not loaded yet or the endpoint could not answer now, rather than
 * that the model refused the request: a container's 5xx included, as a load still in progress on
 * the instance can give one.
 */
function isTransient(error: PlatformError): boolean {
  return (
    error instanceof ModelLoadingError ||
    error instanceof BackendTimeoutError ||
    error instanceof BackendUnavailableError ||
    error instanceof BackendFailedError
  );
}

/**
 * An Open Inference Protocol JSON request with the sample's inputs, filled as stated; its size is
 * `warmUpRequestBytes` (contracts/model-warmup.ts), which must follow any change here.
 */
export function warmUpRequest(inputs: readonly WarmUpInput[]) {
  return {
    inputs: inputs.map((input) => {
      return {
        name: input.name,
        shape: input.shape,
        datatype: input.datatype,
        data: Array.from({ length: warmUpElementCount(input) }, () => element(input)),
      };
    }),
  };
}

function element({ datatype, fill }: WarmUpInput): number | boolean | string {
  if (datatype === 'BOOL') return fill === 'one' || (fill === 'random' && Math.random() < 0.5);
  if (datatype === 'BYTES') return fill === 'zero' ? '' : fill === 'one' ? '1' : String(Math.random());
  const value = fill === 'zero' ? 0 : fill === 'one' ? 1 : Math.random();
  // Integer types take whole numbers.
  return datatype.startsWith('FP') ? value : Math.round(value);
}
