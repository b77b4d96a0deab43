/**
 * The model store's layout, which the stack, the models function and the local platform share: a
 * prefix that a multi-model endpoint's `ModelDataUrl` names, flat archive names below it, and the
 * limits of an upload through the API.
 */

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

const MiB = 1024 * 1024;

/** The largest archive the API takes: the completion reads all of it within one API request. */
export const MAX_ARCHIVE_BYTES = 256 * MiB;
/** The largest unpacked tar inside an archive, so that a small gzip cannot expand without bound. */
export const MAX_UNPACKED_BYTES = 1024 * MiB;
/**
 * The most the completion's check holds of an archive at once: member paths, tar metadata,
 * `config.pbtxt` and the graph descriptions of ONNX files, never their weights. Together with the
 * one item it may hold of at most `MAX_HELD_ITEM_BYTES`, this keeps the models function well below
 * its 512 MB whatever the archive holds (docs/shipping-models.md has the measurement).
 */
export const MAX_HELD_BYTES = 16 * MiB;
/** The largest single thing the check holds: a `config.pbtxt`, a pax header or long name, an initializer's name. */
export const MAX_HELD_ITEM_BYTES = 1 * MiB;
/**
 * Archives up to this size go up in one presigned PUT; larger ones in parts. Each request stays
 * below the 11 MiB body limit of the local S3 emulator (fauxqs), far below S3's 5 GiB.
 */
export const SINGLE_PUT_MAX_BYTES = 8 * MiB;
/** The size of each part but the last of a multipart upload (S3 requires at least 5 MiB). */
export const UPLOAD_PART_BYTES = 8 * MiB;
/** How long the presigned URLs of an upload stay valid. */
export const UPLOAD_URL_TTL_SECONDS = 3600;
