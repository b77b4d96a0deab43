import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { c as createTar } from 'tar';

/**
 * Packs a Triton model repository into the `model.tar.gz` SageMaker extracts into `/opt/ml/model/`:
 * model folders at the top (`simple/config.pbtxt`, `simple/1/model.onnx`), nothing else. The bytes
 * depend only on file names and contents, so the asset hash changes only when a model does.
 */

const EPOCH = new Date(0);

/** Hidden files (`.gitkeep`, `.DS_Store`) never belong in the model data. */
const isHidden = (name: string) => name.startsWith('.');

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The archive's entries in order: each top-level model folder, then its contents depth first, names
 * sorted by code point. Files at the repository root are left out (Triton's SageMaker `serve`
 * refuses a `config.pbtxt` there).
 */
export function modelArchiveEntries(repositoryPath: string, only?: readonly string[]): string[] {
  if (!fs.existsSync(repositoryPath) || !fs.statSync(repositoryPath).isDirectory()) {
    throw new Error(`model repository must be a directory, got ${JSON.stringify(repositoryPath)}`);
  }
  const entries: string[] = [];
  const walk = (relative: string) => {
    entries.push(relative);
    const children = fs
      .readdirSync(path.join(repositoryPath, relative), { withFileTypes: true })
      .filter((child) => !isHidden(child.name))
      .sort((a, b) => byCodePoint(a.name, b.name));
    for (const child of children) {
      const childPath = `${relative}/${child.name}`;
      if (child.isDirectory()) walk(childPath);
      else if (child.isFile()) entries.push(childPath);
    }
  };
  const models = fs
    .readdirSync(repositoryPath, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !isHidden(entry.name))
    .map((entry) => entry.name)
    .sort(byCodePoint);
  if (models.length === 0) {
    throw new Error(`model repository ${JSON.stringify(repositoryPath)} has no model folders`);
  }
  const missing = only?.filter((name) => !models.includes(name)) ?? [];
  if (missing.length > 0) {
    throw new Error(
      `model repository ${JSON.stringify(repositoryPath)} has no model folder ${JSON.stringify(missing[0])}`,
    );
  }
  for (const model of models.filter((name) => !only || only.includes(name))) walk(model);
  return entries;
}

/** The uncompressed tar: fixed mtime, owner 0:0, modes 0755/0644, entries in `modelArchiveEntries` order. */
export function packModelRepositoryTar(repositoryPath: string, only?: readonly string[]): Buffer {
  const pack = createTar(
    {
      sync: true,
      cwd: repositoryPath,
      portable: true,
      mtime: EPOCH,
      noDirRecurse: true,
      onWriteEntry: (entry) => {
        // Modes differ between checkouts (umask, exec bits on Windows); the archive should not.
        if (entry.stat)
          entry.stat.mode = (entry.stat.mode & ~0o7777) | (entry.type === 'Directory' ? 0o755 : 0o644);
      },
    },
    modelArchiveEntries(repositoryPath, only),
  );
  const chunks: Buffer[] = [];
  // A sync pack has already written everything; attaching the listener drains it synchronously.
  pack.on('data', (chunk: Buffer) => chunks.push(chunk));
  return Buffer.concat(chunks);
}

/** Gzips a tar with a fixed header: mtime 0 and OS "unknown", whichever system packs it. */
export function gzipDeterministic(tar: Buffer): Buffer {
  const gz = gzipSync(tar, { level: 9 });
  gz[9] = 0xff; // RFC 1952 OS byte; zlib writes the build platform's code here.
  return gz;
}

export interface StagedModelArchive {
  /** Absolute path of the staged `model.tar.gz`. */
  readonly path: string;
  /** SHA-256 of the uncompressed tar: stable even where zlib builds compress differently. */
  readonly contentHash: string;
}

/**
 * Writes `<stagingDirectory>/<contentHash>/model.tar.gz` unless it is already there, and returns it.
 * Synchronous, because constructs are built synchronously.
 */
export function stageModelArchive(
  repositoryPath: string,
  stagingDirectory: string,
  only?: readonly string[],
): StagedModelArchive {
  const tar = packModelRepositoryTar(repositoryPath, only);
  const contentHash = createHash('sha256').update(tar).digest('hex');
  const dir = path.join(stagingDirectory, contentHash);
  const target = path.join(dir, 'model.tar.gz');
  if (!fs.existsSync(target)) {
    fs.mkdirSync(dir, { recursive: true });
    const partial = `${target}.${process.pid}.partial`;
    fs.writeFileSync(partial, gzipDeterministic(tar));
    fs.renameSync(partial, target);
  }
  return { path: target, contentHash };
}
