import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BUILDS = fileURLToPath(new URL('../../local/aws/function-builds.ts', import.meta.url));

/** The module URL a fresh process gets for `entry`, as each `npm start` or test platform would. */
function builtInFreshProcess(entry: string): string {
  const script = `const { functionModule } = await import(${JSON.stringify(BUILDS)}); console.log(await functionModule(${JSON.stringify(entry)}));`;
  return execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  }).trim();
}

describe('function builds kept between runs', () => {
  it('reuses a build while its inputs are unchanged, and rebuilds when one changes', () => {
    // Prepare: a handler importing a module of its own
    const dir = mkdtempSync(join(tmpdir(), 'function-build-'));
    const entry = join(dir, 'handler.ts');
    const answer = join(dir, 'answer.ts');
    writeFileSync(entry, "import { answer } from './answer';\nexport const handler = () => answer;\n");
    writeFileSync(answer, 'export const answer = 41;\n');
    // Act
    const first = builtInFreshProcess(entry);
    const second = builtInFreshProcess(entry);
    writeFileSync(answer, 'export const answer = 42;\n');
    const third = builtInFreshProcess(entry);
    // Assess: the same file while nothing changed; a new one, with the change, after
    expect(second).toBe(first);
    expect(third).not.toBe(first);
    expect(readFileSync(fileURLToPath(first), 'utf8')).toMatch(/\b41\b/);
    expect(readFileSync(fileURLToPath(third), 'utf8')).toMatch(/\b42\b/);
  });
});
