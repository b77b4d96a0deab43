import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  gzipDeterministic,
  modelArchiveEntries,
  packModelRepositoryTar,
  stageModelArchive,
} from '../../lib/model-archive';

function readTar(tar: Buffer): ReadEntry[] {
  const entries: ReadEntry[] = [];
  const parser = new Parser({
    onReadEntry: (entry) => {
      entries.push(entry);
      entry.resume();
    },
  });
  parser.end(tar);
  return entries;
}

/** A repository with two models, a nested version folder, hidden files and a stray root file. */
function createRepository(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'model-archive-'));
  for (const dir of ['simple/1', 'classifier/1', 'classifier/2', '.git'])
    mkdirSync(path.join(root, dir), { recursive: true });
  writeFileSync(path.join(root, 'simple/config.pbtxt'), 'name: "simple"\n');
  writeFileSync(path.join(root, 'simple/1/model.onnx'), Buffer.from([1, 2, 3, 4]));
  writeFileSync(path.join(root, 'classifier/config.pbtxt'), 'name: "classifier"\n');
  writeFileSync(path.join(root, 'classifier/labels.txt'), 'cat\ndog\n');
  writeFileSync(path.join(root, 'classifier/1/model.onnx'), Buffer.alloc(2048, 7));
  writeFileSync(path.join(root, 'classifier/2/model.onnx'), Buffer.alloc(1024, 9), { mode: 0o755 });
  writeFileSync(path.join(root, 'simple/.DS_Store'), 'x');
  writeFileSync(path.join(root, '.git/HEAD'), 'ref');
  writeFileSync(path.join(root, 'README.md'), 'not a model');
  return root;
}

describe('model archive', () => {
  let repository: string;

  beforeAll(() => {
    repository = createRepository();
  });

  it('puts each model folder at the top, contents sorted, hidden and root files left out', () => {
    expect(modelArchiveEntries(repository)).toEqual([
      'classifier',
      'classifier/1',
      'classifier/1/model.onnx',
      'classifier/2',
      'classifier/2/model.onnx',
      'classifier/config.pbtxt',
      'classifier/labels.txt',
      'simple',
      'simple/1',
      'simple/1/model.onnx',
      'simple/config.pbtxt',
    ]);
  });

  it('packs only the named models when asked', () => {
    expect(modelArchiveEntries(repository, ['simple'])).toEqual([
      'simple',
      'simple/1',
      'simple/1/model.onnx',
      'simple/config.pbtxt',
    ]);
    const staging = mkdtempSync(path.join(tmpdir(), 'model-staging-'));
    const simple = stageModelArchive(repository, staging, ['simple']);
    expect(simple.contentHash).not.toBe(stageModelArchive(repository, staging).contentHash);
    expect(readTar(gunzipSync(readFileSync(simple.path))).map((e) => e.path)).toEqual([
      'simple/',
      'simple/1/',
      'simple/1/model.onnx',
      'simple/config.pbtxt',
    ]);
  });

  it('rejects a named model that has no folder in the repository, naming it', () => {
    expect(() => modelArchiveEntries(repository, ['simple', 'resnet50'])).toThrow(
      /has no model folder "resnet50"/,
    );
  });

  it('writes those entries with fixed mtime, owner and modes', () => {
    const entries = readTar(packModelRepositoryTar(repository));

    expect(entries.map((e) => e.path)).toEqual(
      modelArchiveEntries(repository).map((p, i) => (entries[i]!.type === 'Directory' ? `${p}/` : p)),
    );
    for (const entry of entries) {
      expect(entry.header.uid ?? 0).toBe(0);
      expect(entry.header.gid ?? 0).toBe(0);
      expect(entry.header.mtime?.getTime() ?? 0).toBe(0);
      expect(entry.header.mode).toBe(entry.type === 'Directory' ? 0o755 : 0o644);
    }
    const onnx = entries.find((e) => e.path === 'simple/1/model.onnx')!;
    expect(onnx.size).toBe(4);
  });

  it('produces the same bytes every time', () => {
    const first = gzipDeterministic(packModelRepositoryTar(repository));
    const second = gzipDeterministic(packModelRepositoryTar(repository));

    expect(second.equals(first)).toBe(true);
    expect(first[9]).toBe(0xff);
    expect(gunzipSync(first).equals(packModelRepositoryTar(repository))).toBe(true);
  });

  it('stages model.tar.gz under its content hash and reuses it', () => {
    const staging = mkdtempSync(path.join(tmpdir(), 'model-staging-'));

    const first = stageModelArchive(repository, staging);
    const second = stageModelArchive(repository, staging);

    expect(first).toEqual(second);
    expect(first.path).toBe(path.join(staging, first.contentHash, 'model.tar.gz'));
    expect(first.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(readTar(gunzipSync(readFileSync(first.path)))[0]!.path).toBe('classifier/');
  });

  it('changes the hash when a model file changes', () => {
    const other = createRepository();
    writeFileSync(path.join(other, 'simple/1/model.onnx'), Buffer.from([1, 2, 3, 5]));
    const staging = mkdtempSync(path.join(tmpdir(), 'model-staging-'));

    expect(stageModelArchive(other, staging).contentHash).not.toBe(
      stageModelArchive(repository, staging).contentHash,
    );
  });

  it('rejects a missing repository or one without model folders, naming the path', () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'model-empty-'));
    expect(() => modelArchiveEntries(path.join(empty, 'nope'))).toThrow(
      /model repository must be a directory, got ".*nope"/,
    );
    expect(() => modelArchiveEntries(empty)).toThrow(/has no model folders/);
  });
});
