import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { LOCAL_DIR } from './dev-credentials';

/** Where `npm start` keeps what its emulators hold, unless `LOCAL_STATE_DIR` names another directory. */
export const DEFAULT_STATE_DIR = path.join(LOCAL_DIR, 'state');
const LOCK_FILE = 'platform.pid';

export interface StateDir {
  readonly dir: string;
  /** A directory of one emulator inside the state directory, created if missing. */
  of(emulator: 'dynamodb' | 's3' | 'sqs'): string;
  /** Lets another platform use the directory. */
  release(): void;
}

/** Another running platform holds the state directory. */
export class StateDirInUseError extends Error {}

/**
 * Takes a state directory for one platform: two platforms writing one LevelDB and one set of snapshot
 * files would corrupt both, so a second start on a directory in use stops with a message. A lock
 * whose process is gone (a crash, a kill -9) is taken over. `fresh` empties the directory first.
 */
export function openStateDir(dir: string, options: { fresh?: boolean } = {}): StateDir {
  mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, LOCK_FILE);
  try {
    writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
  } catch {
    const holder = lockHolder(lock);
    if (holder !== undefined && holder !== process.pid && isRunning(holder)) {
      throw new StateDirInUseError(
        `the state directory ${dir} is in use by another local platform (process ${holder}): stop it, or start this one with --in-memory or LOCAL_STATE_DIR=<another directory>`,
      );
    }
    writeFileSync(lock, `${process.pid}\n`);
  }
  if (options.fresh) {
    for (const entry of readdirSync(dir)) {
      if (entry !== LOCK_FILE) rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  }
  return {
    dir,
    of(emulator) {
      const emulatorDir = path.join(dir, emulator);
      mkdirSync(emulatorDir, { recursive: true });
      return emulatorDir;
    },
    release() {
      if (lockHolder(lock) === process.pid) rmSync(lock, { force: true });
    },
  };
}

function lockHolder(lock: string): number | undefined {
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Replaces a file whole: written beside it, then renamed over it, so a process that dies mid-write
 * leaves the previous version. Without an fsync this survives a crash of the process, not of the machine.
 */
export function writeFileAtomically(file: string, data: string | Uint8Array): void {
  const partial = `${file}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, file);
}

export const START_USAGE = `Usage: npm start [-- --fresh | --in-memory]
  --fresh      empty the state directory first: no pushed versions, aliases, batch jobs or files
  --in-memory  keep no state: everything is forgotten when the platform stops
The state directory is .local/state, or the one LOCAL_STATE_DIR names.`;

/** What `npm start`'s arguments and `LOCAL_STATE_DIR` ask of the state directory. */
export function startStateOptions(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { stateDir?: string; freshState: boolean } {
  const { values } = parseArgs({
    args: [...args],
    options: { fresh: { type: 'boolean' }, 'in-memory': { type: 'boolean' } },
    strict: true,
  });
  if (values.fresh && values['in-memory']) throw new Error('--fresh and --in-memory exclude each other');
  if (values['in-memory']) return { freshState: false };
  return {
    stateDir: path.resolve(env.LOCAL_STATE_DIR || DEFAULT_STATE_DIR),
    freshState: values.fresh ?? false,
  };
}
