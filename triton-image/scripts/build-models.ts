/**
 * Writes the models of the Triton model repository from code, deterministically, so the committed
 * files can be rebuilt byte for byte:
 *
 *   npx tsx triton-image/scripts/build-models.ts [--out <dir>] [model ...]
 *
 * Each model is a `ModelBuilder`; add a new model by writing one under `models/` and listing it in
 * `MODEL_BUILDERS`.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadModelRepository, type ModelDefinition } from '../model-repository';
import { irisModel } from './models/iris';
import { simpleModel } from './models/simple';

export interface ModelArtifacts {
  /** Contents of the model's `config.pbtxt`. */
  readonly config: string;
  /** Every other file of the model folder by relative path, e.g. `1/model.onnx`. */
  readonly files: Readonly<Record<string, Uint8Array>>;
}

export interface ModelBuilder {
  /** Model name, which is also its folder name in the repository. */
  readonly name: string;
  build(): ModelArtifacts | Promise<ModelArtifacts>;
}

export const MODEL_BUILDERS: readonly ModelBuilder[] = [simpleModel, irisModel];

export const DEFAULT_REPOSITORY_DIR = fileURLToPath(new URL('../model_repository', import.meta.url));

/** Replaces `<repositoryDir>/<name>/` with what the builder produces; returns the model folder. */
export async function writeModel(repositoryDir: string, builder: ModelBuilder): Promise<string> {
  const artifacts = await builder.build();
  const modelDir = path.resolve(repositoryDir, builder.name);
  const targets = Object.keys(artifacts.files).map((relative) => {
    const target = path.resolve(modelDir, relative);
    if (!target.startsWith(modelDir + path.sep)) {
      throw new Error(`model "${builder.name}": file path "${relative}" leaves the model folder`);
    }
    return [relative, target] as const;
  });
  // Start from an empty folder so that a version or file the builder no longer makes does not linger.
  await rm(modelDir, { recursive: true, force: true });
  await mkdir(modelDir, { recursive: true });
  await writeFile(path.join(modelDir, 'config.pbtxt'), artifacts.config);
  for (const [relative, target] of targets) {
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, artifacts.files[relative]!);
  }
  return modelDir;
}

/**
 * Writes each builder's model, then reads the repository back through the loader the rest of the
 * platform uses, so a builder that writes a config Triton would reject fails here, not at deploy.
 */
export async function buildModels(
  repositoryDir: string,
  builders: readonly ModelBuilder[] = MODEL_BUILDERS,
): Promise<ModelDefinition[]> {
  for (const builder of builders) {
    await writeModel(repositoryDir, builder);
  }
  const built = new Set(builders.map((b) => b.name));
  return (await loadModelRepository(repositoryDir)).filter((m) => built.has(m.name));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { out: { type: 'string' } },
    allowPositionals: true,
  });
  const unknown = positionals.filter((name) => !MODEL_BUILDERS.some((b) => b.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown model(s): ${unknown.join(', ')}; known: ${MODEL_BUILDERS.map((b) => b.name).join(', ')}`,
    );
  }
  const builders =
    positionals.length === 0 ? MODEL_BUILDERS : MODEL_BUILDERS.filter((b) => positionals.includes(b.name));
  const repositoryDir = path.resolve(values.out ?? DEFAULT_REPOSITORY_DIR);
  for (const model of await buildModels(repositoryDir, builders)) {
    console.log(`${model.name}: versions ${model.versions.join(', ')} in ${model.directory}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
