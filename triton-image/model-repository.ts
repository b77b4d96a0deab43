/**
 * Reads a Triton model repository (`<model>/config.pbtxt` + `<model>/<version>/<model file>`) the way
 * Triton and SageMaker's `serve` script would, and describes each model in platform terms. The local
 * model server, the registry seeding and the tests all go through it, so a layout or config that
 * Triton would reject fails here first. The config rules themselves live in
 * contracts/triton/model-config.ts, which the upload check of the models function shares.
 */
import { type Dirent, statSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelSignature } from '../contracts/model-signature';
import {
  CONFIG_FILE,
  checkWarmUpFiles,
  type DynamicBatching,
  describeModel,
  type ModelConfig,
  ModelConfigError,
  modelFilename,
  parseModelConfig,
  servedLatestVersion,
  sortVersions,
} from '../contracts/triton/model-config';

export { toV2Datatype } from '../contracts/triton/model-config';
export type { DynamicBatching };

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
  return path.join(def.directory, version, modelFilename(def.config));
}

async function loadModel(directory: string): Promise<ModelDefinition> {
  const configPath = path.join(directory, CONFIG_FILE);
  // The config's own errors name the file they are in.
  const inConfig = <T>(read: () => T): T => {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof ModelConfigError)) throw error;
      throw new ModelRepositoryError(`${configPath}: ${error.message}`, { cause: error });
    }
  };
  const text = await readConfigText(configPath);
  const config = inConfig(() => parseModelConfig(text));
  const description = inConfig(() => describeModel(config, path.basename(directory)));
  inConfig(() =>
    checkWarmUpFiles(config, path.basename(directory), (file) => {
      const stats = statSync(path.join(path.dirname(directory), file), { throwIfNoEntry: false });
      return stats?.isFile() ? { size: stats.size } : undefined;
    }),
  );

  const versions = sortVersions(await listFolders(directory));
  if (versions.length === 0) {
    throw new ModelRepositoryError(`model folder ${directory} has no numeric version folder (e.g. 1/)`);
  }
  const filename = inConfig(() => modelFilename(config));
  for (const version of versions) {
    const file = path.join(directory, version, filename);
    if (!(await exists(file))) {
      throw new ModelRepositoryError(`model file ${file} is missing`);
    }
  }
  return {
    ...description,
    directory,
    versions,
    latestVersion: inConfig(() => servedLatestVersion(config, versions)),
    config,
  };
}

async function readConfigText(configPath: string): Promise<string> {
  try {
    return await readFile(configPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelRepositoryError(
      code === 'ENOENT'
        ? `${configPath} is missing`
        : `cannot read ${configPath}: ${(error as Error).message}`,
    );
  }
}

async function listFolders(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
