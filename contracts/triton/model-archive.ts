/**
 * What a model archive must hold to load on the endpoint: the layout SageMaker's Triton container
 * unpacks into its model repository (one model folder at the root, `config.pbtxt` in it, numeric
 * version folders each holding the model file), a config that parses against `model_config.proto`,
 * and, for ONNX models, a config whose tensors agree with the model's. Pure: the caller reads the
 * archive and hands over its entries.
 */
import type { ModelSignature } from '../model-signature';
import type { ModelConfig } from './gen/model_config_pb';
import { HoldLimitError } from './held-bytes';
import {
  CONFIG_FILE,
  checkWarmUpFiles,
  describeModel,
  ModelConfigError,
  modelFilename,
  parseModelConfig,
  servedLatestVersion,
  sortVersions,
} from './model-config';
import { checkOnnxModel, type OnnxScan, readOnnxTensors } from './onnx-model';

export interface ArchiveEntry {
  /** Path inside the archive, `/`-separated, without a leading `./` or a trailing `/`. */
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  /** A file's size in bytes. */
  readonly size?: number;
  /** A link's target as the archive stores it: a symlink's relative to its folder, a hard link's a member's path. */
  readonly linkpath?: string;
  /** The file's bytes, for the configs the check reads (`contentRead`); a model file's may be given instead of `onnx`. */
  readonly data?: Uint8Array;
  /** The ONNX scan of a file in a version folder (`contentRead`), which holds none of its weights. */
  readonly onnx?: OnnxScan;
}

export interface CheckedModelArchive {
  /** The model folder at the archive's root, which is also the config's `name`. */
  readonly folder: string;
  readonly platform: string;
  readonly signature: ModelSignature;
  readonly versions: readonly string[];
  /** The version Triton serves when a request names none. */
  readonly servedVersion: string;
  readonly config: ModelConfig;
}

/**
 * What the check reads of a file: a config's bytes, and an ONNX scan of each file of a version
 * folder, any of which may be the model file the config (read before or after it) names.
 */
export function contentRead(path: string): 'bytes' | 'onnx' | undefined {
  const parts = path.split('/');
  if (parts.length === 2 && parts[1] === CONFIG_FILE) return 'bytes';
  return parts.length === 3 ? 'onnx' : undefined;
}

/**
 * The longest name one path component may have, in bytes: Linux's NAME_MAX (`include/uapi/linux/limits.h`).
 * A longer one fails to unpack on the instance with ENAMETOOLONG.
 */
const NAME_MAX_BYTES = 255;

/** Turns a tar member name into the form `ArchiveEntry.path` has; undefined for the root itself. */
export function normalizeEntryPath(name: string): string | undefined {
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..') || name.startsWith('/')) {
    throw new ModelConfigError(`the archive entry ${JSON.stringify(name)} points outside the archive`);
  }
  const long = parts.find((p) => new TextEncoder().encode(p).length > NAME_MAX_BYTES);
  if (long !== undefined) {
    throw new ModelConfigError(
      `the archive entry ${JSON.stringify(name)} has a name of ${new TextEncoder().encode(long).length} bytes; a file name may have at most ${NAME_MAX_BYTES} (Linux NAME_MAX)`,
    );
  }
  return parts.length === 0 ? undefined : parts.join('/');
}

/**
 * Refuses links that would reach past their model folder once unpacked: a target that is absolute or
 * resolves outside the link's model folder (a symlink's from the link's folder; a hard link's is a
 * member's path, which must be a file earlier in the archive, as link(2) needs an existing target),
 * and any path or link target that goes through a symlink of the archive, the one way a target that
 * reads inside could still lead outside. node-tar, which the local model server unpacks with, refuses
 * a path or target through a symlink too (SymlinkError, in its `mkdir.js` and `unpack.js`).
 */
function checkLinks(entries: readonly ArchiveEntry[]): void {
  const symlinks = new Set(entries.filter((e) => e.type === 'symlink').map((e) => e.path));
  const files = new Set<string>();
  for (const entry of entries) {
    const parts = entry.path.split('/');
    if (parts.slice(0, -1).some((_, i) => symlinks.has(parts.slice(0, i + 1).join('/')))) {
      throw new ModelConfigError(`the archive entry ${entry.path} lies under a symlink`);
    }
    if (entry.linkpath !== undefined) {
      const outside = new ModelConfigError(
        `the archive entry ${entry.path} links to ${JSON.stringify(entry.linkpath)}, outside its model folder ${parts[0]}/`,
      );
      const target: string[] = entry.type === 'symlink' ? parts.slice(0, -1) : [];
      if (entry.linkpath.startsWith('/')) throw outside;
      for (const part of entry.linkpath.split('/')) {
        if (part === '..' && (entry.type === 'hardlink' || target.pop() === undefined)) throw outside;
        if (part === '..' || part === '' || part === '.') continue;
        target.push(part);
        if (symlinks.has(target.join('/'))) {
          throw new ModelConfigError(`the archive entry ${entry.path} links through a symlink`);
        }
      }
      if (target[0] !== parts[0]) throw outside;
      if (entry.type === 'hardlink' && !files.has(target.join('/'))) {
        throw new ModelConfigError(
          `the archive entry ${entry.path} is a hard link to ${target.join('/')}, which is no file before it in the archive`,
        );
      }
    }
    if (entry.type === 'file' || entry.type === 'hardlink') files.add(entry.path);
  }
}

/** Checks an archive's entries as the endpoint would load them; errors are `ModelConfigError`s. */
export function checkModelArchive(entries: readonly ArchiveEntry[]): CheckedModelArchive {
  const fail = (message: string): never => {
    throw new ModelConfigError(message);
  };
  checkLinks(entries);
  if (entries.some((e) => e.path === CONFIG_FILE)) {
    fail('config.pbtxt must sit in a model folder, not at the root of the archive');
  }
  const visible = entries.filter((e) => !e.path.split('/').some((p) => p.startsWith('.')));
  const folders = [
    ...new Set(
      visible.filter((e) => e.path.includes('/') || e.type === 'directory').map((e) => e.path.split('/')[0]!),
    ),
  ].sort();
  if (folders.length !== 1) {
    fail(
      folders.length === 0
        ? 'the archive has no model folder at its root'
        : `the archive must hold one model folder at its root, it holds ${folders.length}: ${folders.join(', ')}`,
    );
  }
  const folder = folders[0]!;
  const byPath = new Map(visible.map((e) => [e.path, e]));
  const configEntry = byPath.get(`${folder}/${CONFIG_FILE}`);
  if (configEntry?.data === undefined) fail(`${folder}/${CONFIG_FILE} is missing`);
  const inConfig = <T>(read: () => T): T => {
    try {
      return read();
    } catch (error) {
      if (error instanceof ModelConfigError)
        throw new ModelConfigError(`${folder}/${CONFIG_FILE}: ${error.message}`);
      throw error;
    }
  };
  const config = inConfig(() => parseModelConfig(new TextDecoder().decode(configEntry!.data)));
  const description = inConfig(() => describeModel(config, folder));
  inConfig(() =>
    checkWarmUpFiles(config, folder, (path) => {
      const entry = entries.find((e) => e.path === path);
      return entry?.type === 'file' || entry?.type === 'symlink' || entry?.type === 'hardlink'
        ? entry
        : undefined;
    }),
  );
  const versions = sortVersions([
    ...new Set(
      visible
        .map((e) => e.path.split('/'))
        .filter(
          (parts) =>
            parts.length >= 2 && (parts.length > 2 || byPath.get(parts.join('/'))?.type === 'directory'),
        )
        .map((parts) => parts[1]!),
    ),
  ]);
  if (versions.length === 0) fail(`${folder}/ has no numeric version folder (e.g. ${folder}/1/)`);
  const filename = inConfig(() => modelFilename(config));
  for (const version of versions) {
    const file = `${folder}/${version}/${filename}`;
    // A model "file" may be a folder (TensorFlow's SavedModel), so anything at or under the path counts.
    if (!visible.some((e) => e.path === file || e.path.startsWith(`${file}/`))) fail(`${file} is missing`);
    if (description.platform === 'onnxruntime_onnx') {
      const { onnx, data } = byPath.get(file) ?? {};
      if (!onnx && !data) fail(`${file} must be a file`);
      try {
        checkOnnxModel(config, onnx ? onnx.tensors() : readOnnxTensors(data!));
      } catch (error) {
        if (!(error instanceof ModelConfigError)) throw error;
        const message = `${file}: ${error.message}`;
        throw error instanceof HoldLimitError ? new HoldLimitError(message) : new ModelConfigError(message);
      }
    }
  }
  return {
    folder,
    platform: description.platform,
    signature: description.signature,
    versions,
    servedVersion: inConfig(() => servedLatestVersion(config, versions)),
    config,
  };
}
