/**
 * The model data of a multi-model endpoint on the local model server: on the first request for a
 * TargetModel, SageMaker downloads `<ModelDataUrl prefix><TargetModel>` from S3, unpacks it and has
 * the container load it; later requests find it loaded
 * (https://docs.aws.amazon.com/sagemaker/latest/dg/invoke-multi-model-endpoint.html).
 * Here the archive comes from the local S3 emulator, is unpacked into a temporary folder and read
 * by the same repository loader the image's models go through.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { x as extractTar } from 'tar';
import { loadModelRepository } from '../../triton-image/model-repository';
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
}

export class LocalModelStore {
  private readonly targets = new Map<string, Entry>();

  constructor(private readonly location: ModelStoreLocation) {}

  /** The loaded target, loading it first if no request has; concurrent first requests share one load. */
  load(targetModel: string): Promise<LoadedTarget> {
    const known = this.targets.get(targetModel);
    if (known) return known.loading;
    const entry = {} as Entry;
    const loading = this.fetchAndLoad(targetModel, entry);
    entry.loading = loading;
    this.targets.set(targetModel, entry);
    // A failed load is not remembered: the next request tries again, as after an upload.
    loading.catch(() => {
      if (this.targets.get(targetModel) === entry) this.targets.delete(targetModel);
    });
    return loading;
  }

  async close(): Promise<void> {
    const entries = [...this.targets.values()];
    this.targets.clear();
    await Promise.all(
      entries.map(async (entry) => {
        await entry.loading.catch(() => undefined);
        if (entry.models) {
          closeSchedulers(entry.models);
          await releaseSessions(entry.models);
        }
        if (entry.directory) await rm(entry.directory, { recursive: true, force: true });
      }),
    );
  }

  private async fetchAndLoad(targetModel: string, entry: Entry): Promise<LoadedTarget> {
    const { client, bucket, prefix } = this.location;
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
      await pipeline(Readable.from(body), extractTar({ cwd: directory, strict: true }));
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
      const models = await loadModels(definitions);
      entry.models = models;
      return { model: definitions[0]!.name, triton: new TritonApi(models) };
    } catch (error) {
      await rm(directory, { recursive: true, force: true });
      entry.directory = undefined;
      if (error instanceof ModelLoadError) throw error;
      throw new ModelLoadError(`failed to load ${targetModel}: ${(error as Error).message}`);
    }
  }
}
