import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** `npm run --silent token -- ...` without npm: the script as its package.json entry runs it. */
const token = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'bin/token.ts', ...args], { encoding: 'utf8' });

describe('npm run token', () => {
  it.each([
    [['--expires-in', 'abc'], "token: --expires-in must be a whole number of seconds, got 'abc'"],
    [['--expires-in', '1.5'], "token: --expires-in must be a whole number of seconds, got '1.5'"],
    [['--bogus'], "token: unknown option '--bogus'"],
  ])('refuses %j in one line with exit 2', (args, message) => {
    const run = token(...args);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`${message} (npm run --silent token -- --help for usage)\n`);
  });

  it('prints a token, expired with a negative lifetime', () => {
    const run = token('--expires-in=-60', '--sub', 'alice');
    expect(run.status).toBe(0);
    const claims = JSON.parse(Buffer.from(run.stdout.trim().split('.')[1]!, 'base64url').toString());
    expect(claims.sub).toBe('alice');
    expect(claims.exp).toBeLessThan(Date.now() / 1000);
  });
});
