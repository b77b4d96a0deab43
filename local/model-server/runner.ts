/**
 * The models behind the local model server: each served version of each model as an onnxruntime
 * session (CPU only, on the onnxruntime thread) with the scheduler that runs it, and the conversion
 * of the server's tensors to and from onnxruntime's.
 */
import type { Tensor as OrtTensor } from 'onnxruntime-node';
import type { Datatype, ModelSignature } from '../../contracts/model-signature';
import { type ModelDefinition, modelFilePath } from '../../triton-image/model-repository';
import { loadLabels, type OutputLabels } from './classification';
import { type OnnxSession, type OnnxTensor, openOnnxSession } from './onnx-sessions';
import { InstanceScheduler, type ModelRunner } from './scheduler';
import type { NumericTensorData, Tensor, TensorValues } from './tensors';

export interface ServedVersion {
  readonly version: string;
  readonly session: OnnxSession;
  readonly scheduler: InstanceScheduler;
}

export interface ServedModel {
  readonly definition: ModelDefinition;
  readonly versions: ReadonlyMap<string, ServedVersion>;
  /** Class labels of the outputs whose config names a `label_filename`. */
  readonly labels: OutputLabels;
}

/** Opens a session and a scheduler for each version the models' version policies serve. */
export async function loadModels(definitions: readonly ModelDefinition[]): Promise<Map<string, ServedModel>> {
  const models = new Map<string, ServedModel>();
  try {
    for (const definition of definitions) {
      const versions = new Map<string, ServedVersion>();
      models.set(definition.name, { definition, versions, labels: await loadLabels(definition) });
      const { maxBatchSize } = definition.signature;
      for (const version of servedVersions(definition)) {
        const session = await openOnnxSession(modelFilePath(definition, version), {
          executionProviders: ['cpu'],
          logSeverityLevel: 3,
          // onnxruntime's pool threads spin between runs by default, which takes a whole core from
          // the HTTP path, the rest of the local platform and the load generator sharing the machine.
          extra: { session: { intra_op: { allow_spinning: '0' } } },
        });
        // Triton enables dynamic batching only for models that batch at all.
        const batching =
          definition.dynamicBatching !== undefined && maxBatchSize > 0
            ? { ...definition.dynamicBatching, maxBatchSize }
            : undefined;
        const scheduler = new InstanceScheduler(
          onnxRunner(session, definition.signature),
          maxBatchSize > 0,
          batching,
        );
        versions.set(version, { version, session, scheduler });
      }
    }
    return models;
  } catch (error) {
    await releaseSessions(models);
    throw error;
  }
}

export function closeSchedulers(models: ReadonlyMap<string, ServedModel>): void {
  for (const model of models.values()) {
    for (const version of model.versions.values()) version.scheduler.close();
  }
}

export async function releaseSessions(models: ReadonlyMap<string, ServedModel>): Promise<void> {
  await Promise.all(
    [...models.values()].flatMap((m) => [...m.versions.values()].map((v) => v.session.release())),
  );
}

/** The versions Triton loads under the model's version_policy (default: the latest one). */
function servedVersions(definition: ModelDefinition): string[] {
  const policy = definition.config.versionPolicy?.policyChoice;
  if (policy?.case === 'all') return definition.versions;
  if (policy?.case === 'specific') {
    const wanted = new Set(policy.value.versions.map(String));
    return definition.versions.filter((v) => wanted.has(v));
  }
  const latest = policy?.case === 'latest' ? policy.value.numVersions : 1;
  return definition.versions.slice(-Math.max(1, latest));
}

const ORT_TYPES: Record<Datatype, OrtTensor.Type> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

function onnxRunner(session: OnnxSession, signature: ModelSignature): ModelRunner {
  const outputNames = signature.outputs.map((o) => o.name);
  return async (inputs, phases) => {
    const feeds = Object.fromEntries(inputs.map((t) => [t.name, toOrtTensor(t)]));
    phases?.inputsReady();
    const results = await session.run(feeds, outputNames);
    phases?.inferred();
    return signature.outputs.map((output): Tensor => {
      const tensor = results[output.name];
      if (tensor === undefined) throw new Error(`the model returned no output '${output.name}'`);
      if (tensor.type !== ORT_TYPES[output.datatype]) {
        throw new Error(
          `the model returned output '${output.name}' as ${tensor.type}, but its config declares ${output.datatype}`,
        );
      }
      return {
        name: output.name,
        datatype: output.datatype,
        shape: [...tensor.dims],
        data: fromOrtData(output.datatype, tensor.data),
      };
    });
  };
}

function toOrtTensor({ datatype, data, shape }: Tensor): OnnxTensor {
  if (datatype === 'BYTES') {
    // onnxruntime's string tensors are text: BYTES elements reach the model decoded as UTF-8.
    return {
      type: 'string',
      data: (data as Uint8Array[]).map((bytes) => utf8Decoder.decode(bytes)),
      dims: shape,
    };
  }
  // Typed arrays of each datatype are what onnxruntime expects (bool: Uint8Array, float16: Uint16Array).
  return { type: ORT_TYPES[datatype], data: data as OrtTensor.DataType, dims: shape };
}

function fromOrtData(datatype: Datatype, data: OrtTensor.DataType): TensorValues {
  if (datatype === 'BYTES') return (data as string[]).map((text) => utf8.encode(text));
  return data as NumericTensorData;
}
