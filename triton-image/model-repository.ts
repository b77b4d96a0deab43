/**
 * Reads a Triton model repository (`<model>/config.pbtxt` + `<model>/<version>/<model file>`) the way
 * Triton and SageMaker's `serve` script would, and describes each model in platform terms. The local
 * model server, the registry seeding and the tests all go through it, so a layout or config that
 * Triton would reject fails here first.
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fromText } from '@bufbuild/protobuf/txtpb';
import type { Datatype, ModelSignature, TensorSignature } from '../contracts/model-signature';
import {
  DataType,
  type ModelConfig,
  ModelConfigSchema,
  type ModelInput,
  type ModelOutput,
} from './gen/model_config_pb';

export interface DynamicBatching {
  readonly preferredBatchSizes: number[];
  readonly maxQueueDelayMicroseconds: number;
}

export interface ModelDefinition {
  /** Name from config.pbtxt; always equal to the model folder's name. */
  readonly name: string;
  /** Triton platform, e.g. `onnxruntime_onnx`. */
  readonly platform: string;
  /** Absolute path of the model folder. */
  readonly directory: string;
  /** Numeric version folders, ascending numerically. */
  readonly versions: string[];
  /** The version Triton serves when a request names none (the highest one its version_policy loads). */
  readonly latestVersion: string;
  readonly signature: ModelSignature;
  readonly dynamicBatching?: DynamicBatching;
  readonly config: ModelConfig;
}

export class ModelRepositoryError extends Error {
  override readonly name = 'ModelRepositoryError';
}

const CONFIG_FILE = 'config.pbtxt';

// Triton's per-platform default model file names, used when default_model_filename is not set.
const DEFAULT_MODEL_FILENAMES: Record<string, string> = {
  onnxruntime_onnx: 'model.onnx',
  tensorrt_plan: 'model.plan',
  pytorch_libtorch: 'model.pt',
  tensorflow_savedmodel: 'model.savedmodel',
  tensorflow_graphdef: 'model.graphdef',
  python: 'model.py',
};

// Triton ignores version folders that are not numeric or that start with "0".
const VERSION_FOLDER = /^[1-9][0-9]*$/;

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

/** Reads every model of the repository at `dir`, sorted by name. */
export async function loadModelRepository(dir: string): Promise<ModelDefinition[]> {
  const root = path.resolve(dir);
  let entries: Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    throw new ModelRepositoryError(`cannot read model repository ${root}: ${(error as Error).message}`);
  }
  // SageMaker's serve script refuses a model folder unpacked at the top of /opt/ml/model.
  if (entries.some((e) => e.name === CONFIG_FILE)) {
    throw new ModelRepositoryError(
      `${path.join(root, CONFIG_FILE)}: config.pbtxt must sit in a model folder, not at the repository root`,
    );
  }
  const modelDirs = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (modelDirs.length === 0) {
    throw new ModelRepositoryError(`model repository ${root} has no model folders`);
  }
  return Promise.all(modelDirs.map((name) => loadModel(path.join(root, name))));
}

/** Path of the model file of `version`, honouring `default_model_filename`. */
export function modelFilePath(def: ModelDefinition, version: string): string {
  return path.join(def.directory, version, modelFilename(def.config, path.join(def.directory, CONFIG_FILE)));
}

async function loadModel(directory: string): Promise<ModelDefinition> {
  const folder = path.basename(directory);
  const configPath = path.join(directory, CONFIG_FILE);
  const config = await readConfig(configPath);
  const fail = (message: string): never => {
    throw new ModelRepositoryError(`${configPath}: ${message}`);
  };

  if (config.name !== folder) {
    fail(`name "${config.name}" does not match its folder "${folder}"`);
  }
  const platform = platformOf(config) ?? fail('neither platform nor backend is set');
  if (config.maxBatchSize < 0) {
    fail(`max_batch_size must not be negative, got ${config.maxBatchSize}`);
  }

  const versions = await listVersions(directory);
  if (versions.length === 0) {
    throw new ModelRepositoryError(`model folder ${directory} has no numeric version folder (e.g. 1/)`);
  }
  const filename = modelFilename(config, configPath);
  for (const version of versions) {
    const file = path.join(directory, version, filename);
    if (!(await exists(file))) {
      throw new ModelRepositoryError(`model file ${file} is missing`);
    }
  }

  const signature: ModelSignature = {
    inputs: config.input.map((t) => tensorSignature(t, config.maxBatchSize, fail)),
    outputs: config.output.map((t) => tensorSignature(t, config.maxBatchSize, fail)),
    maxBatchSize: config.maxBatchSize,
  };
  if (signature.inputs.length === 0 || signature.outputs.length === 0) {
    fail('at least one input and one output must be declared');
  }

  const definition: ModelDefinition = {
    name: config.name,
    platform,
    directory,
    versions,
    latestVersion: servedLatestVersion(config, versions, fail),
    signature,
    config,
  };
  if (config.schedulingChoice.case === 'dynamicBatching') {
    const batching = config.schedulingChoice.value;
    const preferredBatchSizes = [...batching.preferredBatchSize];
    const outOfRange = preferredBatchSizes.filter((size) => size < 1 || size > config.maxBatchSize);
    if (outOfRange.length > 0) {
      fail(
        `preferred_batch_size ${outOfRange.join(', ')} must be between 1 and max_batch_size ${config.maxBatchSize}`,
      );
    }
    return {
      ...definition,
      dynamicBatching: {
        preferredBatchSizes,
        maxQueueDelayMicroseconds: Number(batching.maxQueueDelayMicroseconds),
      },
    };
  }
  return definition;
}

async function readConfig(configPath: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelRepositoryError(
      code === 'ENOENT'
        ? `${configPath} is missing`
        : `cannot read ${configPath}: ${(error as Error).message}`,
    );
  }
  try {
    return fromText(ModelConfigSchema, text);
  } catch (error) {
    throw new ModelRepositoryError(`${configPath}: ${(error as Error).message}`, { cause: error });
  }
}

function platformOf(config: ModelConfig): string | undefined {
  if (config.platform !== '') {
    return config.platform;
  }
  // Triton fills in the platform of an ONNX model configured by backend only.
  if (config.backend === 'onnxruntime') {
    return 'onnxruntime_onnx';
  }
  return config.backend === '' ? undefined : config.backend;
}

function modelFilename(config: ModelConfig, configPath: string): string {
  if (config.defaultModelFilename !== '') {
    return config.defaultModelFilename;
  }
  const platform = platformOf(config) ?? '';
  const filename = DEFAULT_MODEL_FILENAMES[platform];
  if (filename === undefined) {
    throw new ModelRepositoryError(
      `${configPath}: set default_model_filename, platform "${platform}" has no known default model file`,
    );
  }
  return filename;
}

async function listVersions(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && VERSION_FOLDER.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
}

function servedLatestVersion(
  config: ModelConfig,
  versions: string[],
  fail: (message: string) => never,
): string {
  const policy = config.versionPolicy?.policyChoice;
  if (policy?.case === 'specific') {
    const wanted = new Set(policy.value.versions.map(String));
    const served = versions.filter((v) => wanted.has(v));
    return (
      served.at(-1) ?? fail(`version_policy names versions ${[...wanted].join(', ')}, none of which exist`)
    );
  }
  // `latest` and `all` both serve the highest version when a request names none.
  return versions.at(-1)!;
}

function tensorSignature(
  tensor: ModelInput | ModelOutput,
  maxBatchSize: number,
  fail: (message: string) => never,
): TensorSignature {
  if (tensor.name === '') {
    fail('a tensor has no name');
  }
  let datatype: Datatype;
  try {
    datatype = toV2Datatype(tensor.dataType);
  } catch (error) {
    return fail(`tensor "${tensor.name}": ${(error as Error).message}`);
  }
  const dims = tensor.dims.map(Number);
  const invalid = dims.filter((d) => d !== -1 && !(Number.isSafeInteger(d) && d > 0));
  if (invalid.length > 0) {
    fail(`tensor "${tensor.name}": dims must be positive or -1, got [${dims.join(', ')}]`);
  }
  // With batching, dims leave out the batch dimension that clients send first.
  return { name: tensor.name, datatype, shape: maxBatchSize > 0 ? [-1, ...dims] : dims };
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
