/**
 * The model data of a multi-model endpoint on the local model server: on the first request for a
 * TargetModel, SageMaker downloads `<ModelDataUrl prefix><TargetModel>` from S3, unpacks it and has
 * the container load it; later requests find it loaded
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/invoke-multi-model-endpoint.html).
 * Here the archive comes from the local S3 emulator, is unpacked into a temporary folder and read
 * by the same repository loader the image's models go through; an archive that fails to unpack or
 * load is a load failure, its folder removed. Under a memory budget, loading a model first unloads
 * the least recently used idle ones, and each load, unload and invocation is recorded in
 * SageMaker's multi-model metrics (docs/local-platform.md, "Multi-model cache").
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { type ReadEntry, UnpackSync } from 'tar';
import { loadModelRepository } from '../../triton-image/model-repository';
import type { EndpointDimensions, MultiModelMetricName, MultiModelMetrics } from './multi-model-metrics';
import { closeSchedulers, loadModels, releaseSessions, type ServedModel } from './runner';
import { TritonApi } from './triton-api';

/** The one Triton platform the local server runs (on onnxruntime-node). */
const ONNX_PLATFORM = 'onnxruntime_onnx';

export interface ModelStoreLocation {
  readonly client: S3Client;
  readonly bucket: string;
  /** The key prefix of `ModelDataUrl`, e.g. `models/`. */
  readonly prefix: string;
}

/** A TargetModel the store has no archive for. */
export class MissingModelDataError extends Error {
  override readonly name = 'MissingModelDataError';
}

/** An archive that is there but that Triton could not load. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

/** One loaded archive: its model folder, served by a Triton of its own. */
export interface LoadedTarget {
  /** The model folder's name inside the archive. */
  readonly model: string;
  readonly triton: TritonApi;
}

interface Entry {
  loading: Promise<LoadedTarget>;
  models?: Map<string, ServedModel>;
  directory?: string;
  /** The unpacked model folder's size: what the entry counts against the memory budget. */
  bytes: number;
  /** Invocations running on it now; an entry in use is never unloaded. */
  inUse: number;
  lastUsed: number;
}

export interface LocalModelStoreOptions {
  /**
   * The memory the loaded models may take, counted as the bytes of their unpacked model folders;
   * loading a model past it first unloads the least recently used models that no invocation is
   * using, as SageMaker unloads unused models when an instance's memory runs short.
   * @default - no budget: models stay loaded until the server closes
   */
  readonly memoryBudgetBytes?: number;
  /** Where the endpoint's multi-model metrics are recorded. */
  readonly metrics?: MultiModelMetrics;
  readonly now?: () => number;
}

/** A loaded target held for one invocation; `release` when the invocation is over. */
export interface HeldTarget extends LoadedTarget {
  release(): void;
}

export class LocalModelStore {
  private readonly targets = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(
    private readonly location: ModelStoreLocation,
    private readonly options: LocalModelStoreOptions = {},
  ) {
    this.now = options.now ?? performance.now.bind(performance);
  }

  /**
   * The loaded target, loading it first if no request has; concurrent first requests share one
   * load. It stays loaded until `release`, and records the invocation's cache metrics.
   */
  async acquire(targetModel: string, dimensions: EndpointDimensions): Promise<HeldTarget> {
    const known = this.targets.get(targetModel);
    const hit = known?.models !== undefined;
    const entry = known ?? this.startLoad(targetModel, dimensions);
    entry.inUse++;
    const started = this.now();
    try {
      const target = await entry.loading;
      this.record('ModelCacheHit', hit ? 1 : 0, dimensions);
      if (!hit) this.record('ModelLoadingWaitTime', microseconds(this.now() - started), dimensions);
      let released = false;
      return {
        ...target,
        release: () => {
          if (released) return;
          released = true;
          entry.inUse--;
          entry.lastUsed = this.now();
        },
      };
    } catch (error) {
      entry.inUse--;
      throw error;
    }
  }

  /** Names of the targets loaded now, least recently used first. */
  loaded(): string[] {
    return [...this.targets]
      .filter(([, entry]) => entry.models !== undefined)
      .sort(([, a], [, b]) => a.lastUsed - b.lastUsed)
      .map(([name]) => name);
  }

  async close(): Promise<void> {
    const entries = [...this.targets.values()];
    this.targets.clear();
    await Promise.all(
      entries.map(async (entry) => {
        await entry.loading.catch(() => undefined);
        await unload(entry);
      }),
    );
  }

  private startLoad(targetModel: string, dimensions: EndpointDimensions): Entry {
    const entry = { bytes: 0, inUse: 0, lastUsed: this.now() } as Entry;
    entry.loading = this.fetchAndLoad(targetModel, entry, dimensions);
    this.targets.set(targetModel, entry);
    // A failed load is not remembered: the next request tries again, as after an upload.
    entry.loading.catch(() => {
      if (this.targets.get(targetModel) === entry) this.targets.delete(targetModel);
    });
    return entry;
  }

  /**
   * Unloads least recently used targets that no invocation is using until `incoming` more bytes fit
   * the budget. When every loaded target is in use, the new one loads over the budget.
   */
  private async makeRoom(incoming: Entry, dimensions: EndpointDimensions): Promise<void> {
    const budget = this.options.memoryBudgetBytes;
    if (budget === undefined) return;
    const loadedBytes = () =>
      [...this.targets.values()].reduce((sum, e) => sum + (e.models !== undefined ? e.bytes : 0), 0);
    for (const name of this.loaded()) {
      if (loadedBytes() + incoming.bytes <= budget) return;
      const entry = this.targets.get(name);
      // Another load may have unloaded it meanwhile.
      if (entry === undefined || entry === incoming || entry.inUse > 0) continue;
      this.targets.delete(name);
      const started = this.now();
      await unload(entry);
      this.record('ModelUnloadingTime', microseconds(this.now() - started), dimensions);
      this.record('LoadedModelCount', this.loaded().length, dimensions);
    }
  }

  private record(metric: MultiModelMetricName, value: number, dimensions: EndpointDimensions): void {
    this.options.metrics?.record(metric, value, dimensions);
  }

  private async fetchAndLoad(
    targetModel: string,
    entry: Entry,
    dimensions: EndpointDimensions,
  ): Promise<LoadedTarget> {
    const { client, bucket, prefix } = this.location;
    const downloadStarted = this.now();
    const key = `${prefix}${targetModel}`;
    let body: Readable;
    try {
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      body = object.Body as Readable;
    } catch (error) {
      if (error instanceof NoSuchKey) {
        throw new MissingModelDataError(`no object s3://${bucket}/${key}`);
      }
      throw error;
    }
    const directory = await mkdtemp(path.join(tmpdir(), 'local-model-store-'));
    entry.directory = directory;
    try {
      await unpack(body, directory);
      this.record('ModelDownloadingTime', microseconds(this.now() - downloadStarted), dimensions);
      const definitions = await loadModelRepository(directory);
      if (definitions.length !== 1) {
        throw new ModelLoadError(
          `archive ${targetModel} holds ${definitions.length} model folders; a TargetModel holds one`,
        );
      }
      const [definition] = definitions;
      if (definition!.platform !== ONNX_PLATFORM) {
        // A limitation of this server, not of the endpoint: Triton runs these backends in AWS.
        throw new ModelLoadError(
          `model '${definition!.name}' in ${targetModel} is a ${definition!.platform} model, which runs only on the deployed Triton endpoint; the local model server runs ${ONNX_PLATFORM} models only`,
        );
      }
      entry.bytes = await folderBytes(directory);
      await this.makeRoom(entry, dimensions);
      const loadStarted = this.now();
      const models = await loadModels(definitions);
      entry.models = models;
      this.record('ModelLoadingTime', microseconds(this.now() - loadStarted), dimensions);
      this.record('LoadedModelCount', this.loaded().length, dimensions);
      return { model: definitions[0]!.name, triton: new TritonApi(models) };
    } catch (error) {
      await rm(directory, { recursive: true, force: true });
      entry.directory = undefined;
      if (error instanceof ModelLoadError) throw error;
      throw new ModelLoadError(`failed to load ${targetModel}: ${(error as Error).message}`);
    }
  }
}

/**
 * Unpacks the archive into `directory` as it downloads, with node-tar's synchronous unpacker fed
 * chunk by chunk: each write has finished its file operations when it returns, so once a write
 * fails nothing is left writing into the directory, which can then be removed whole.
 */
async function unpack(body: Readable, directory: string): Promise<void> {
  // node-tar refuses by default a gzip that expands over 1000 times, a guard of its own that no
  // SageMaker or Triton document sets; the upload check bounds the unpacked tar instead
  // (MAX_UNPACKED_BYTES), so what it accepts loads here (docs/shipping-models.md).
  const unpacker = new UnpackSync({ cwd: directory, strict: true, maxDecompressionRatio: Infinity });
  let failure: Error | undefined;
  let entry: ReadEntry | undefined;
  unpacker.on('error', (error: Error) => {
    failure ??= error;
  });
  unpacker.on('entry', (e: ReadEntry) => {
    entry = e;
  });
  try {
    for await (const chunk of body) {
      unpacker.write(chunk as Buffer);
      if (failure) break;
    }
    if (!failure) unpacker.end();
  } finally {
    // A file cut off by a failure is still open, its disk space held: ending its entry closes it.
    if (entry?.emittedEnd === false) entry.end();
    body.destroy();
  }
  if (failure) throw failure;
}

async function unload(entry: Entry): Promise<void> {
  if (entry.models) {
    closeSchedulers(entry.models);
    await releaseSessions(entry.models);
    entry.models = undefined;
  }
  if (entry.directory) await rm(entry.directory, { recursive: true, force: true });
  entry.directory = undefined;
}

/** The bytes of every file under `directory`. */
async function folderBytes(directory: string): Promise<number> {
  const files = await readdir(directory, { recursive: true, withFileTypes: true });
  const sizes = await Promise.all(
    files.filter((f) => f.isFile()).map(async (f) => (await stat(path.join(f.parentPath, f.name))).size),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

const microseconds = (ms: number) => Math.round(ms * 1000);
