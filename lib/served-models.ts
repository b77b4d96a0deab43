import type { ModelSignature } from '../contracts/model-signature';
import { modelArchiveName } from '../contracts/model-store';
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

export { MODEL_STORE_PREFIX, modelArchiveName } from '../contracts/model-store';

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
