/**
 * Pushing a version's archive into the model store: presigned S3 uploads (one PUT, or parts above
 * `SINGLE_PUT_MAX_BYTES`) under a key derived from the SHA-256 the caller states first, and the
 * completion, which reads the stored archive back, hashes it, checks it as the endpoint will load it,
 * registers the version LOADING and queues its warm-up. Rules and their sources: docs/shipping-models.md.
 */
import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import {
  MAX_UNPACKED_BYTES,
  MODEL_STORE_PREFIX,
  modelArchiveName,
  SINGLE_PUT_MAX_BYTES,
  UPLOAD_PART_BYTES,
  UPLOAD_URL_TTL_SECONDS,
} from '../../../contracts/model-store';
import type { WarmUpMessage } from '../../../contracts/model-warmup';
import type { ModelVersion } from '../../../contracts/registry-schemas';
import { HoldLimitError } from '../../../contracts/triton/held-bytes';
import { checkModelArchive } from '../../../contracts/triton/model-archive';
import { ModelConfigError } from '../../../contracts/triton/model-config';
import type * as z from '../../../contracts/zod';
import { BadRequestError, ConflictError, PayloadTooLargeError } from '../../edge/errors';
import { completeParts, type PresignedUpload, presignUpload } from '../../edge/presigned-uploads';
import { parseInput } from '../../edge/validation';
import {
  type CompleteUploadSchema,
  RegisterVersionSchema,
  type StartUploadSchema,
} from '../../registry/api-schemas';
import { archiveTooLarge, readArchive } from './archive-reader';
import { warmUpSample } from './warm-up-sample';

export type StartedUpload =
  /** The store already holds this archive: complete at once. */
  { readonly archive: string; readonly mode: 'stored' } | (PresignedUpload & { readonly archive: string });

export interface UploadTarget {
  readonly client: S3Client;
  readonly bucket: string;
  /** The multi-model endpoint that serves pushed versions; undefined on a single-model endpoint. */
  readonly endpointName?: string;
}

/** Runs a check of the archive, its refusals answered 400 (413 past a hold limit). */
function refusing<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof HoldLimitError) throw archiveTooLarge(error);
    if (error instanceof ModelConfigError)
      throw new BadRequestError(`the archive is refused: ${error.message}`);
    throw error;
  }
}

export class ModelUploads {
  constructor(
    private readonly target: UploadTarget,
    private readonly register: (
      version: Omit<ModelVersion, 'createdAt' | 'updatedAt'>,
    ) => Promise<ModelVersion>,
    private readonly versionExists: (name: string, version: string) => Promise<boolean>,
    /** Queues the warm-up inference that makes a registered (LOADING) version ACTIVE or FAILED. */
    private readonly warmUp: (message: WarmUpMessage) => Promise<void>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async start(
    name: string,
    version: string,
    input: z.output<typeof StartUploadSchema>,
  ): Promise<StartedUpload> {
    this.endpoint();
    await this.refuseExisting(name, version);
    const archive = modelArchiveName(name, input.sha256);
    const key = `${MODEL_STORE_PREFIX}${archive}`;
    const { client, bucket } = this.target;
    if (await this.stored(key)) return { archive, mode: 'stored' };
    const upload = await presignUpload({
      client,
      bucket,
      key,
      size: input.size,
      singlePutMaxBytes: SINGLE_PUT_MAX_BYTES,
      partBytes: UPLOAD_PART_BYTES,
      expiresInSeconds: UPLOAD_URL_TTL_SECONDS,
      // S3 refuses a body whose SHA-256 differs from the signed one, and a PUT over an existing key.
      sha256: input.sha256,
      ifNoneMatch: true,
      now: this.now(),
    });
    return { archive, ...upload };
  }

  async complete(
    name: string,
    version: string,
    input: z.output<typeof CompleteUploadSchema>,
  ): Promise<ModelVersion> {
    const endpointName = this.endpoint();
    await this.refuseExisting(name, version);
    const archive = modelArchiveName(name, input.sha256);
    const key = `${MODEL_STORE_PREFIX}${archive}`;
    const { client, bucket } = this.target;
    if (input.uploadId !== undefined) {
      if (!input.parts) throw new BadRequestError('a multipart upload completes with its parts');
      // An archive once stored is never replaced: a second completion of the same hash finds it
      // stored (412), and it is read and checked below like any other.
      await completeParts({ client, bucket, key }, input.uploadId, input.parts, { ifNoneMatch: true });
    }
    const read = await this.readStored(key, name, input.sha256).catch(async (error: unknown) => {
      // Bytes that are no archive may still be the ones the key names; only other bytes are removed.
      if (
        (error instanceof BadRequestError || error instanceof PayloadTooLargeError) &&
        (await this.sha256Of(key)) !== input.sha256
      ) {
        await this.remove(key);
      }
      throw error;
    });
    if (read.sha256 !== input.sha256) {
      await this.remove(key);
      throw new BadRequestError(
        `the uploaded archive's SHA-256 is ${read.sha256}, not the ${input.sha256} the upload stated; upload it again`,
      );
    }
    const checked = refusing(() => checkModelArchive(read.entries));
    if (checked.servedVersion !== version) {
      throw new BadRequestError(
        `the archive serves version ${checked.servedVersion} of ${checked.folder}, not version ${version}: Triton serves the highest version its version_policy loads`,
      );
    }
    // The version the archive describes must pass every rule a registration does (tensor names
    // unique and within bounds, at most 64 tensors of at most 16 dimensions): checked here, so
    // that an archive beyond them is a 400 that names the field, never a stored version that fails.
    const described = parseInput(
      RegisterVersionSchema,
      {
        name,
        version,
        platform: checked.platform,
        inputs: checked.signature.inputs,
        outputs: checked.signature.outputs,
        maxBatchSize: checked.signature.maxBatchSize,
        backends: [{ endpointName, variant: 'AllTraffic', targetModel: archive, weight: 100 }],
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.labels !== undefined ? { labels: input.labels } : {}),
      },
      'model in the archive',
    );
    // Built before the version is registered: a sample the warm-up cannot send is a 400, not a
    // version left LOADING.
    const sample = refusing(() => warmUpSample(checked.signature, checked.config));
    // Serves no traffic until its warm-up inference succeeds.
    const registered = await this.register({ ...described, status: 'LOADING' });
    await this.warmUp({
      name,
      version,
      archive,
      ...sample,
      enqueuedAt: this.now().toISOString(),
      attempt: 0,
    });
    return registered;
  }

  private endpoint(): string {
    const { endpointName } = this.target;
    if (endpointName === undefined) {
      throw new ConflictError(
        "this platform's endpoint hosts a single model: pushing a version needs servingMode multi-model",
      );
    }
    return endpointName;
  }

  private async refuseExisting(name: string, version: string): Promise<void> {
    if (await this.versionExists(name, version)) {
      throw new ConflictError(`model '${name}' version ${version} already exists`);
    }
  }

  private async readStored(key: string, name: string, sha256: string) {
    const body = await this.storedBody(key);
    if (!body)
      throw new BadRequestError(`no archive with SHA-256 ${sha256} was uploaded for model '${name}'`);
    return readArchive(body, MAX_UNPACKED_BYTES);
  }

  /** The SHA-256 of the stored object, or undefined if there is none. */
  private async sha256Of(key: string): Promise<string | undefined> {
    const body = await this.storedBody(key);
    if (!body) return undefined;
    const hash = createHash('sha256');
    for await (const chunk of body) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  /** The stored object's bytes as a stream, or undefined if there is none. */
  private async storedBody(key: string): Promise<NodeJS.ReadableStream | undefined> {
    try {
      const object = await this.target.client.send(
        new GetObjectCommand({ Bucket: this.target.bucket, Key: key }),
      );
      return object.Body as NodeJS.ReadableStream;
    } catch (error) {
      if (error instanceof S3ServiceException && error.name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  /**
   * Removes bytes stored under a key they do not hash to. The key is named by the stated SHA-256 and
   * written only if absent (`If-None-Match`), so they would otherwise hold it for good: every start
   * would answer `stored` and every completion refuse them. No version names such an archive (its
   * completion is what refused it), and the function may delete under the store prefix.
   */
  private async remove(key: string): Promise<void> {
    await this.target.client.send(new DeleteObjectCommand({ Bucket: this.target.bucket, Key: key }));
  }

  private async stored(key: string): Promise<boolean> {
    try {
      await this.target.client.send(new HeadObjectCommand({ Bucket: this.target.bucket, Key: key }));
      return true;
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return false;
      throw error;
    }
  }
}
