import { setTimeout as delay } from 'node:timers/promises';
import { InvokeEndpointCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import type { Backend } from '../../contracts/registry-schemas';
import {
  BackendError,
  BackendFailedError,
  BackendTimeoutError,
  BackendUnavailableError,
  BadRequestError,
  PayloadTooLargeError,
  PlatformError,
} from '../edge/errors';
import type { BackendAnswer } from './codec';

/**
 * Sends one Open Inference Protocol request to a SageMaker endpoint running Triton and maps
 * SageMaker's errors to the platform's: the model's own rejection is a 502 carrying its message,
 * a request SageMaker refuses is a 400, throttling and capacity problems are 503, a timeout is 504,
 * and an endpoint the function's role may not invoke is a 500 naming the misconfiguration.
 * `isRetryable` tells which of them another backend might not have.
 */
export async function invokeBackend(
  client: SageMakerRuntimeClient,
  backend: Backend,
  payload: { readonly body: Uint8Array; readonly contentType: string },
  signal?: AbortSignal,
): Promise<BackendAnswer> {
  for (let retry = 0; ; retry++) {
    try {
      const output = await client.send(
        new InvokeEndpointCommand({
          EndpointName: backend.endpointName,
          TargetVariant: backend.variant,
          TargetModel: backend.targetModel,
          ContentType: payload.contentType,
          Body: payload.body,
        }),
        { abortSignal: signal },
      );
      return { body: output.Body ?? new Uint8Array(), contentType: output.ContentType ?? 'application/json' };
    } catch (error) {
      if ((error as { name?: string }).name !== 'ModelNotReadyException')
        throw mapSageMakerError(error, backend);
      const delayMs = Math.min(LOADING_FIRST_DELAY_MS * 2 ** retry, LOADING_MAX_DELAY_MS);
      // Waits out the delay unless the request's time runs out first (the signal aborts).
      const waited =
        (signal !== undefined || retry < LOADING_RETRIES_WITHOUT_BUDGET) &&
        (await delay(delayMs, true, { signal }).catch(() => false));
      if (!waited) {
        throw new ModelLoadingError(
          `model ${backend.targetModel ?? backend.endpointName} is still loading on endpoint ${backend.endpointName}; try again shortly`,
        );
      }
    }
  }
}

/**
 * A multi-model endpoint answers ModelNotReadyException while it downloads and loads a model on its
 * first request (the request took more than SageMaker's 60 s, or a serverless variant is still
 * provisioning), and AWS advises retrying it
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/invoke-multi-model-endpoint.html). The request
 * retries it with backoff for as long as its time budget lasts.
 */
const LOADING_FIRST_DELAY_MS = 250;
const LOADING_MAX_DELAY_MS = 4_000;
/** Without a time budget (no abort signal), a few waits only. */
const LOADING_RETRIES_WITHOUT_BUDGET = 4;

/**
 * The model was still loading when the request's time ran out: a 503 that is not the backend's
 * failure, so it neither fails over (another backend would load it too) nor counts against the
 * endpoint's circuit. A new version's first requests would otherwise open the circuit of a healthy
 * endpoint.
 */
export class ModelLoadingError extends PlatformError {
  readonly statusCode = 503;
  readonly code = 'MODEL_LOADING';
  override readonly retryAfterSeconds = 5;
}

function mapSageMakerError(error: unknown, backend: Backend): Error {
  const name = (error as { name?: string }).name;
  const message = (error as { message?: string }).message ?? 'unknown error';
  // SageMaker refuses an oversized payload with a bare 413 that the SDK cannot name.
  if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 413) {
    return new PayloadTooLargeError(
      'the request exceeds the 6 MB an endpoint accepts; use the batch API for large inputs',
    );
  }
  switch (name) {
    case 'AccessDeniedException': {
      // IAM refused before any endpoint saw the request: our deployment, not the backend, is at fault.
      const denied = new EndpointAccessDeniedError(
        `the platform is misconfigured: it is not permitted to invoke endpoint ${backend.endpointName}; an operator must list it in additionalEndpointNames and deploy, or change the model's backends`,
      );
      denied.cause = error;
      return denied;
    }
    case 'ModelError': {
      const { OriginalMessage, OriginalStatusCode } = error as {
        OriginalMessage?: string;
        OriginalStatusCode?: number;
      };
      const detail = modelMessage(OriginalMessage) ?? message;
      // A container that answered 4xx judged the request. One that answered 5xx failed, and so did
      // one that gave no answer: SageMaker reports a container that ran past its 60 s or exited as
      // status 0. On a multi-model endpoint Triton answers every error 400 but running out of memory
      // (507), so there a failing model reads as a rejection: see docs/protocol.md.
      if (OriginalStatusCode === undefined || OriginalStatusCode < 400 || OriginalStatusCode >= 500) {
        return new BackendFailedError(`endpoint ${backend.endpointName} failed: ${detail}`);
      }
      return new BackendError(`the model rejected the request: ${detail}`);
    }
    case 'ValidationError':
      // A missing endpoint, or a TargetModel whose archive it cannot download ("Failed to download
      // model data ..."), is a backend that cannot serve (another may); the rest is about the request.
      if (/not found|failed to download model data/i.test(message)) {
        return new BackendUnavailableError(`endpoint ${backend.endpointName} is unavailable: ${message}`);
      }
      return new BadRequestError(`the endpoint refused the request: ${message}`);
    case 'ServiceUnavailable':
    case 'ThrottlingException':
    case 'InternalDependencyException':
    case 'InternalFailure':
      return new BackendUnavailableError(`endpoint ${backend.endpointName} is unavailable: ${message}`);
    case 'TimeoutError':
    case 'AbortError':
      return new BackendTimeoutError(`endpoint ${backend.endpointName} did not answer in time`);
    default:
      return new BackendUnavailableError(`endpoint ${backend.endpointName} could not be reached`);
  }
}

/**
 * The function's role may not invoke the endpoint (a backend registered before the endpoint left
 * `additionalEndpointNames`). A 500, not a 502: no upstream answered badly, the platform's own
 * configuration is wrong. Not retryable: every call fails alike until an operator deploys a fix, so
 * it neither fails over nor counts against the endpoint's circuit.
 */
export class EndpointAccessDeniedError extends PlatformError {
  readonly statusCode = 500;
  readonly code = 'PLATFORM_MISCONFIGURED';
}

/** Triton's errors are `{"error": "..."}`; surface the message itself rather than the JSON. */
function modelMessage(original: string | undefined): string | undefined {
  if (!original) return undefined;
  try {
    const parsed = JSON.parse(original) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : original;
  } catch {
    return original;
  }
}

/** Failures of the backend rather than of the request: another backend may well succeed. */
export function isRetryable(error: unknown): boolean {
  return (
    error instanceof BackendUnavailableError ||
    error instanceof BackendTimeoutError ||
    error instanceof BackendFailedError
  );
}
