/**
 * A Triton model's `config.pbtxt` as Triton reads it, apart from any file system: the text parsed
 * against `model_config.proto`, and what the platform derives from it (platform, model file name,
 * signature, served version). The repository loader (triton-image/model-repository.ts) and the
 * upload check of the models function (archive.ts) both go through it, so an archive the API accepts
 * is one the local model server loads.
 */
import { posix } from 'node:path';
import { fromText } from '@bufbuild/protobuf/txtpb';
import { DATATYPE_SIZE, type Datatype, type ModelSignature, type TensorSignature } from '../model-signature';
import {
  DataType,
  type ModelConfig,
  ModelConfigSchema,
  type ModelInput,
  type ModelOutput,
} from './gen/model_config_pb';

export type { ModelConfig } from './gen/model_config_pb';

/** A config Triton would refuse; the message names the field or tensor, not the file. */
export class ModelConfigError extends Error {
  override readonly name = 'ModelConfigError';
}

export const CONFIG_FILE = 'config.pbtxt';

// Triton's per-platform default model file names, used when default_model_filename is not set.
const DEFAULT_MODEL_FILENAMES: Record<string, string> = {
  onnxruntime_onnx: 'model.onnx',
  tensorrt_plan: 'model.plan',
  pytorch_libtorch: 'model.pt',
  tensorflow_savedmodel: 'model.savedmodel',
  tensorflow_graphdef: 'model.graphdef',
  python: 'model.py',
};

/** Triton ignores version folders that are not numeric or that start with "0". */
export const VERSION_FOLDER = /^[1-9][0-9]*$/;

const DATATYPES: Partial<Record<DataType, Datatype>> = {
  [DataType.TYPE_BOOL]: 'BOOL',
  [DataType.TYPE_UINT8]: 'UINT8',
  [DataType.TYPE_UINT16]: 'UINT16',
  [DataType.TYPE_UINT32]: 'UINT32',
  [DataType.TYPE_UINT64]: 'UINT64',
  [DataType.TYPE_INT8]: 'INT8',
  [DataType.TYPE_INT16]: 'INT16',
  [DataType.TYPE_INT32]: 'INT32',
  [DataType.TYPE_INT64]: 'INT64',
  [DataType.TYPE_FP16]: 'FP16',
  [DataType.TYPE_FP32]: 'FP32',
  [DataType.TYPE_FP64]: 'FP64',
  [DataType.TYPE_STRING]: 'BYTES',
};

/** Maps a Triton config data type to its Open Inference Protocol datatype. */
export function toV2Datatype(dataType: DataType): Datatype {
  const datatype = DATATYPES[dataType];
  if (datatype === undefined) {
    // BF16 is a Triton type with no counterpart in the v2 datatypes the platform validates against.
    throw new Error(`data type ${DataType[dataType] ?? dataType} is not supported`);
  }
  return datatype;
}

/** Parses `config.pbtxt` text against `model_config.proto`. */
export function parseModelConfig(text: string): ModelConfig {
  try {
    return fromText(ModelConfigSchema, text);
  } catch (error) {
    throw new ModelConfigError((error as Error).message, { cause: error });
  }
}

/** The Triton platform of the model, e.g. `onnxruntime_onnx`; undefined when neither platform nor backend is set. */
export function platformOf(config: ModelConfig): string | undefined {
  if (config.platform !== '') {
    return config.platform;
  }
  // Triton fills in the platform of an ONNX model configured by backend only.
  if (config.backend === 'onnxruntime') {
    return 'onnxruntime_onnx';
  }
  return config.backend === '' ? undefined : config.backend;
}

/** The model file each version folder must hold, honouring `default_model_filename`. */
export function modelFilename(config: ModelConfig): string {
  if (config.defaultModelFilename !== '') {
    return config.defaultModelFilename;
  }
  const platform = platformOf(config) ?? '';
  const filename = DEFAULT_MODEL_FILENAMES[platform];
  if (filename === undefined) {
    throw new ModelConfigError(
      `set default_model_filename, platform "${platform}" has no known default model file`,
    );
  }
  return filename;
}

/** Numeric version folder names in ascending numeric order. */
export function sortVersions(versions: readonly string[]): string[] {
  return versions
    .filter((v) => VERSION_FOLDER.test(v))
    .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
}

export interface DynamicBatching {
  readonly preferredBatchSizes: number[];
  readonly maxQueueDelayMicroseconds: number;
}

/** What the platform takes from a config whose model folder is `folder`. */
export interface ModelDescription {
  readonly name: string;
  readonly platform: string;
  readonly signature: ModelSignature;
  readonly dynamicBatching?: DynamicBatching;
}

/** Checks a parsed config as Triton does at load, and derives the model's signature from it. */
export function describeModel(config: ModelConfig, folder: string): ModelDescription {
  const fail = (message: string): never => {
    throw new ModelConfigError(message);
  };
  if (config.name !== folder) {
    fail(`name "${config.name}" does not match its folder "${folder}"`);
  }
  const platform = platformOf(config) ?? fail('neither platform nor backend is set');
  if (config.maxBatchSize < 0) {
    fail(`max_batch_size must not be negative, got ${config.maxBatchSize}`);
  }
  const signature: ModelSignature = {
    inputs: config.input.map((t) => tensorSignature(t, config.maxBatchSize)),
    outputs: config.output.map((t) => tensorSignature(t, config.maxBatchSize)),
    maxBatchSize: config.maxBatchSize,
  };
  if (signature.inputs.length === 0 || signature.outputs.length === 0) {
    fail('at least one input and one output must be declared');
  }
  checkModelWarmup(config);
  if (config.schedulingChoice.case !== 'dynamicBatching') {
    return { name: config.name, platform, signature };
  }
  const batching = config.schedulingChoice.value;
  const preferredBatchSizes = [...batching.preferredBatchSize];
  const outOfRange = preferredBatchSizes.filter((size) => size < 1 || size > config.maxBatchSize);
  if (outOfRange.length > 0) {
    fail(
      `preferred_batch_size ${outOfRange.join(', ')} must be between 1 and max_batch_size ${config.maxBatchSize}`,
    );
  }
  return {
    name: config.name,
    platform,
    signature,
    dynamicBatching: {
      preferredBatchSizes,
      maxQueueDelayMicroseconds: Number(batching.maxQueueDelayMicroseconds),
    },
  };
}

/** The version Triton serves when a request names none: the highest one its version_policy loads. */
export function servedLatestVersion(config: ModelConfig, versions: readonly string[]): string {
  const policy = config.versionPolicy?.policyChoice;
  if (policy?.case === 'specific') {
    const wanted = new Set(policy.value.versions.map(String));
    const served = versions.filter((v) => wanted.has(v));
    const latest = served.at(-1);
    if (latest === undefined) {
      throw new ModelConfigError(
        `version_policy names versions ${[...wanted].join(', ')}, none of which exist`,
      );
    }
    return latest;
  }
  // `latest` and `all` both serve the highest version when a request names none.
  const latest = versions.at(-1);
  if (latest === undefined) throw new ModelConfigError('the model has no numeric version folder (e.g. 1/)');
  return latest;
}

/**
 * The rules Triton enforces on `model_warmup` when it loads a model, a sample it refuses failing the
 * load: `TritonModelInstance::GenerateWarmupData` (src/backend_model_instance.cc) skips a sample of
 * batch_size 0, refuses an unknown or negative dimension (`GetByteSize`, src/model_config_utils.h)
 * and an input without input_data_type, then prepares each as a request of batch 1, which
 * `InferenceRequest::Normalize` and `ValidateRequestInputs` (src/infer_request.cc) check against
 * the config's inputs; all in github.com/triton-inference-server/core. A name the config does not
 * declare is passed as a control (override) input: only its dims and input_data_type are checked.
 */
function checkModelWarmup(config: ModelConfig): void {
  const declared = new Map(config.input.map((input) => [input.name, input]));
  const required = config.input.filter((input) => !input.optional).length;
  for (const sample of config.modelWarmup) {
    if (sample.batchSize === 0) continue;
    const fail = (message: string): never => {
      throw new ModelConfigError(`model_warmup sample '${sample.name}': ${message}`);
    };
    const inputs = Object.entries(sample.inputs);
    for (const [name, input] of inputs) {
      const dims = input.dims.map(Number);
      const negative = dims.find((dim) => dim < 0);
      if (negative === -1) {
        fail(`all variable-size dimensions must be specified for input '${name}', got [${dims.join(', ')}]`);
      } else if (negative !== undefined) {
        fail(`input '${name}' contains an invalid dimension [${dims.join(', ')}]`);
      }
      if (input.inputDataType.case === undefined) {
        fail(`input '${name}' must set input_data_type (zero_data, random_data or input_data_file)`);
      }
    }
    const given = inputs.filter(([name]) => declared.has(name)).length;
    if (given < required) {
      const missing = config.input.filter(
        (input) => !input.optional && !Object.hasOwn(sample.inputs, input.name),
      );
      fail(
        `expected ${required} inputs but got ${given}; missing required input(s) ${missing.map((input) => `'${input.name}'`).join(', ')}`,
      );
    }
    for (const [name, input] of inputs) {
      const expected = declared.get(name);
      if (!expected) continue;
      if (input.dataType !== expected.dataType) {
        fail(
          `input '${name}' data-type is ${DataType[input.dataType]}, but the model expects ${DataType[expected.dataType]}`,
        );
      }
      // A batching model's sample gets a batch dimension of 1, which only a shape tensor keeps.
      const dims = input.dims.map(Number);
      const shape = expected.isShapeTensor && config.maxBatchSize > 0 ? [1, ...dims] : dims;
      const wanted = expected.dims.map(Number);
      if (shape.length !== wanted.length || wanted.some((dim, i) => dim !== -1 && dim !== shape[i])) {
        fail(
          `unexpected shape for input '${name}': expected [${wanted.join(', ')}], got [${dims.join(', ')}]`,
        );
      }
    }
  }
}

function tensorSignature(tensor: ModelInput | ModelOutput, maxBatchSize: number): TensorSignature {
  if (tensor.name === '') {
    throw new ModelConfigError('a tensor has no name');
  }
  let datatype: Datatype;
  try {
    datatype = toV2Datatype(tensor.dataType);
  } catch (error) {
    throw new ModelConfigError(`tensor "${tensor.name}": ${(error as Error).message}`);
  }
  const dims = tensor.dims.map(Number);
  const invalid = dims.filter((d) => d !== -1 && !(Number.isSafeInteger(d) && d > 0));
  if (invalid.length > 0) {
    throw new ModelConfigError(
      `tensor "${tensor.name}": dims must be positive or -1, got [${dims.join(', ')}]`,
    );
  }
  // With batching, dims leave out the batch dimension that clients send first.
  return { name: tensor.name, datatype, shape: maxBatchSize > 0 ? [-1, ...dims] : dims };
}

/**
 * A warm-up file as its model's holder finds it: undefined when it is missing or not a file (a link
 * counts, Triton follows it), else its size in bytes when known.
 */
export type WarmUpFileLookup = (path: string) => { readonly size?: number } | undefined;

/**
 * A `model_warmup` input read from a file: Triton reads `<model>/warmup/<input_data_file>` when it
 * loads the model and fails the load when it cannot, or when the file holds fewer bytes than the
 * input's dims take, for every datatype but BYTES (`GenerateWarmupData` in
 * src/backend_model_instance.cc and `kWarmupDataFolder` in src/constants.h,
 * github.com/triton-inference-server/core). A sample of batch_size 0 is skipped, as Triton skips it.
 * `lookup` is given paths below the model's folder, `folder/warmup/...`.
 */
export function checkWarmUpFiles(config: ModelConfig, folder: string, lookup: WarmUpFileLookup): void {
  const warmup = `${folder}/warmup/`;
  for (const sample of config.modelWarmup) {
    if (sample.batchSize === 0) continue;
    for (const [name, input] of Object.entries(sample.inputs)) {
      if (input.inputDataType.case !== 'inputDataFile') continue;
      const file = input.inputDataType.value;
      const where = `model_warmup sample '${sample.name}': input '${name}' reads warmup/${file}`;
      const path = posix.normalize(`${warmup}${file}`);
      const found = path.startsWith(warmup) ? lookup(path) : undefined;
      if (found === undefined) throw new ModelConfigError(`${where}, which is not a file of ${warmup}`);
      const datatype = toV2Datatype(input.dataType);
      if (datatype === 'BYTES' || found.size === undefined) continue;
      const needed = input.dims.reduce((bytes, dim) => bytes * Number(dim), DATATYPE_SIZE[datatype]);
      if (found.size < needed) {
        throw new ModelConfigError(
          `${where}, which holds ${found.size} bytes; the input's dims take ${needed}`,
        );
      }
    }
  }
}
