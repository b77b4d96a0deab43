import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { BackendError, BadRequestError, NotFoundError } from '../shared/errors';
import {
  InvalidInferenceRequestError,
  parseInferenceRequest,
  validateAgainstSignature,
} from '../shared/inference-protocol';
import {
  type Backend,
  latestActiveVersion,
  MODEL_NAME,
  MODEL_VERSION,
  type ModelRegistry,
  type ModelVersion,
} from '../shared/registry';
import { invokeBackend } from '../shared/sagemaker-backend';

export interface InferenceDependencies {
  readonly registry: ModelRegistry;
  readonly sagemaker: SageMakerRuntimeClient;
  /** Source of randomness for weighted backend choice; injectable so tests can pin it. */
  readonly random?: () => number;
}

/** Finds the version a request names, or the latest active one; one registry call either way. */
export async function resolveModelVersion(
  registry: ModelRegistry,
  model: string,
  version: string | undefined,
): Promise<ModelVersion> {
  if (!MODEL_NAME.test(model)) throw new BadRequestError(`invalid model name '${model}'`);
  if (version === undefined) {
    const latest = latestActiveVersion(await registry.listVersions(model));
    if (!latest) throw new NotFoundError(`model '${model}' is not found`);
    return latest;
  }
  if (!MODEL_VERSION.test(version)) throw new BadRequestError(`invalid model version '${version}'`);
  const found = await registry.getVersion(model, version);
  if (found?.status !== 'ACTIVE') throw new NotFoundError(`model '${model}' has no version '${version}'`);
  return found;
}

/** Open Inference Protocol model metadata. */
export function modelMetadata(version: ModelVersion) {
  return {
    name: version.name,
    versions: [version.version],
    platform: version.platform,
    inputs: version.inputs,
    outputs: version.outputs,
  };
}

/** Picks a backend with probability proportional to its weight. */
export function chooseBackend(backends: readonly Backend[], random: () => number = Math.random): Backend {
  const total = backends.reduce((sum, b) => sum + b.weight, 0);
  let point = random() * total;
  for (const backend of backends) {
    point -= backend.weight;
    if (point < 0) return backend;
  }
  return backends[backends.length - 1]!;
}

/**
 * Validates a v2 inference request against the version's signature before any backend call, sends
 * it to one of the version's backends, and names the model and version in the response as the
 * client addressed them.
 */
export async function infer(
  deps: InferenceDependencies,
  version: ModelVersion,
  body: unknown,
): Promise<Record<string, unknown>> {
  try {
    validateAgainstSignature(parseInferenceRequest(body), version);
  } catch (error) {
    if (error instanceof InvalidInferenceRequestError) throw new BadRequestError(error.message);
    throw error;
  }
  const backend = chooseBackend(version.backends, deps.random);
  const answer = await invokeBackend(deps.sagemaker, backend, JSON.stringify(body));
  let response: unknown;
  try {
    response = JSON.parse(new TextDecoder().decode(answer.body));
  } catch {
    throw new BackendError(`endpoint ${backend.endpointName} answered with a body that is not JSON`);
  }
  if (typeof response !== 'object' || response === null || Array.isArray(response)) {
    throw new BackendError(`endpoint ${backend.endpointName} answered with an unexpected body`);
  }
  return { ...response, model_name: version.name, model_version: version.version };
}
