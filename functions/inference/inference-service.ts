import type { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { BadRequestError, NotFoundError } from '../shared/errors';
import type { BackendAnswer, InferencePayload } from '../shared/inference-codec';
import { InvalidInferenceRequestError, validateAgainstSignature } from '../shared/inference-protocol';
import type { ModelCache } from '../shared/model-cache';
import {
  ALIAS_NAME,
  type Backend,
  latestActiveVersion,
  MODEL_NAME,
  MODEL_VERSION,
  type Model,
  type ModelVersion,
  versionNotFound,
} from '../shared/registry';
import { invokeBackend } from '../shared/sagemaker-backend';

export interface InferenceDependencies {
  readonly sagemaker: SageMakerRuntimeClient;
  /** Source of randomness for weighted backend choice; injectable so tests can pin it. */
  readonly random?: () => number;
}

export interface ResolvedTarget {
  readonly model: Model;
  readonly version: ModelVersion;
}

/**
 * Finds the version a request addresses: a version number, an alias (a weighted choice that is the
 * same for the same routing key, so a retried request lands on the same version), or, when the URL
 * names neither, the latest active version.
 */
export async function resolveTarget(
  models: Pick<ModelCache, 'getModel'>,
  name: string,
  versionOrAlias: string | undefined,
  routingKey: string,
): Promise<ResolvedTarget> {
  if (!MODEL_NAME.test(name)) throw new BadRequestError(`invalid model name '${name}'`);
  const model = await models.getModel(name);
  if (!model || model.versions.length === 0) throw new NotFoundError(`model '${name}' is not found`);
  let versionName: string | undefined;
  if (versionOrAlias === undefined) {
    versionName = latestActiveVersion(model.versions)?.version;
    if (!versionName) throw new NotFoundError(`model '${name}' has no active version`);
  } else if (MODEL_VERSION.test(versionOrAlias)) {
    versionName = versionOrAlias;
  } else if (ALIAS_NAME.test(versionOrAlias)) {
    const alias = model.aliases.find((a) => a.alias === versionOrAlias);
    if (!alias) throw new NotFoundError(`model '${name}' has no version or alias '${versionOrAlias}'`);
    versionName = pickWeighted(alias.routes, routingPoint(routingKey)).version;
  } else {
    throw new BadRequestError(`'${versionOrAlias}' is neither a version number nor an alias name`);
  }
  const version = model.versions.find((v) => v.version === versionName);
  if (version?.status !== 'ACTIVE') throw versionNotFound(name, versionName);
  return { model, version };
}

/** Open Inference Protocol model metadata; `versions` lists every active version unless one was named. */
export function modelMetadata({ model, version }: ResolvedTarget, versionNamed: boolean) {
  return {
    name: model.name,
    versions: versionNamed
      ? [version.version]
      : model.versions.filter((v) => v.status === 'ACTIVE').map((v) => v.version),
    platform: version.platform,
    inputs: version.inputs,
    outputs: version.outputs,
  };
}

/** Picks an item with probability proportional to its weight, for a point in [0, 1). */
export function pickWeighted<T extends { readonly weight: number }>(items: readonly T[], point: number): T {
  const total = items.reduce((sum, item) => sum + item.weight, 0);
  let remaining = point * total;
  for (const item of items) {
    remaining -= item.weight;
    if (remaining < 0) return item;
  }
  return items[items.length - 1]!;
}

/** A stable point in [0, 1) for a routing key (32-bit FNV-1a). */
export function routingPoint(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 2 ** 32;
}

export function chooseBackend(backends: readonly Backend[], random: () => number = Math.random): Backend {
  return pickWeighted(backends, random());
}

/**
 * Checks a decoded request against the version's signature before any backend call, then sends it
 * to one of the version's backends and returns the backend's answer as it came.
 */
export async function infer(
  deps: InferenceDependencies,
  version: ModelVersion,
  payload: InferencePayload,
): Promise<BackendAnswer> {
  try {
    validateAgainstSignature(payload.request, version, version.name);
  } catch (error) {
    if (error instanceof InvalidInferenceRequestError) throw new BadRequestError(error.message);
    throw error;
  }
  const backend = chooseBackend(version.backends, deps.random);
  return invokeBackend(deps.sagemaker, backend, payload);
}
