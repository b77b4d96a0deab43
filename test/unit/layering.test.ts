import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Every TypeScript or JavaScript module under a top-level folder, as repository-relative paths. */
function sourceFiles(folder: string): string[] {
  return readdirSync(path.join(ROOT, folder), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|mts|mjs|js)$/.test(e.name))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/** The top-level folders a module's relative imports (static, dynamic and type-only) reach. */
function importedFolders(file: string): Set<string> {
  const { importedFiles } = ts.preProcessFile(readFileSync(path.join(ROOT, file), 'utf8'), true, true);
  const folders = new Set<string>();
  for (const { fileName } of importedFiles) {
    if (!fileName.startsWith('.')) continue; // a package
    const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), fileName));
    folders.add(target.split(path.sep)[0]!);
  }
  return folders;
}

/** Which top-level folders each layer may import from besides itself. */
const ALLOWED: Record<string, readonly string[]> = {
  // The contracts layer is read by every other folder and reads none of them.
  contracts: [],
  // Lambda code: what ends up in a bundle must not drag in CDK or the emulators.
  functions: ['contracts'],
  // CDK code names handlers only by their entry paths.
  lib: ['contracts', 'triton-image'],
};

describe('layering', () => {
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    it(`${layer}/ imports only ${allowed.length ? allowed.map((a) => `${a}/`).join(' and ') : 'packages'} besides itself`, () => {
      const files = sourceFiles(layer);
      expect(files.length).toBeGreaterThan(0);
      const offending = files.flatMap((file) =>
        [...importedFolders(file)]
          .filter((folder) => folder !== layer && !allowed.includes(folder))
          .map((folder) => `${file} -> ${folder}/`),
      );
      expect(offending).toEqual([]);
    });
  }

  it('sees a forbidden import when there is one', () => {
    // The check reads imports from source text; make sure it would notice one the layers forbid.
    expect(importedFolders('local/model-server/sagemaker-api.ts')).toContain('functions');
  });
});
