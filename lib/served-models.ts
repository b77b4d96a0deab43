import type { ModelSignature } from '../contracts/model-signature';
import type { Backend } from '../contracts/registry-schemas';
import type { ModelDefinition } from '../triton-image/model-repository';

/** How the Triton endpoint hosts the repository (see `servingMode` in the configuration). */
export type ServingMode = 'multi-model' | 'single-model';

/** A model version as Triton serves it, ready to be registered once its backend is known. */
export interface ServedModel extends ModelSignature {
  readonly name: string;
  readonly version: string;
  readonly platform: string;
}

/**
 * The versions a Triton endpoint answers for: the latest of each model, which is the one Triton
 * serves when a request names no version (SageMaker's `/invocations` has no way to name one).
 */
export function servedModels(definitions: readonly ModelDefinition[]): ServedModel[] {
  return definitions.map((d) => ({
    name: d.name,
    version: d.latestVersion,
    platform: d.platform,
    inputs: d.signature.inputs,
    outputs: d.signature.outputs,
    maxBatchSize: d.signature.maxBatchSize,
  }));
}

/** The key prefix of the model store that a multi-model endpoint's `ModelDataUrl` names; archives are keyed below it. */
export const MODEL_STORE_PREFIX = 'models/';

/**
 * A model's archive, relative to the endpoint's model data prefix: `<model>-<content hash>.tar.gz`.
 * The hash makes changed weights a new object, so a single-model endpoint gets a new SageMaker model
 * (and a rolling update) and a multi-model endpoint a new `TargetModel` instead of a stale cached copy.
 * Without a hash (the local platform) it is `<model>.tar.gz`. The name is flat (no `/`): Triton on
 * SageMaker registers the model under the whole `TargetModel` string (docs/architecture-notes.md).
 */
export const modelArchiveName = (model: string, contentHash?: string) =>
  contentHash ? `${model}-${contentHash.slice(0, 16)}.tar.gz` : `${model}.tar.gz`;

/** Where the registry sends a model's requests: the endpoint, and the archive on a multi-model endpoint. */
export function tritonBackend(
  model: string,
  endpointName: string,
  mode: ServingMode,
  archiveName: string = modelArchiveName(model),
): Backend {
  return {
    endpointName,
    variant: 'AllTraffic',
    ...(mode === 'multi-model' ? { targetModel: archiveName } : {}),
    weight: 100,
  };
}
