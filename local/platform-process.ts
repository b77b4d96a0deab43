import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

export interface PlatformProcess {
  readonly apiUrl: string;
  readonly modelServerUrl: string;
  /** The local console. */
  readonly consoleUrl: string;
  /** The DynamoDB emulator (dynalite). */
  readonly dynamodbUrl: string;
  /** The SQS emulator (fauxqs): an SQS client's `endpoint`. */
  readonly sqsUrl: string;
  /** The S3 emulator holding the model store. */
  readonly s3Url: string;
  /** The batch submissions queue, as the banner prints it. */
  readonly submissionsQueueUrl: string;
  /** The control API (`local/aws/platform-control.ts`), when `LOCAL_CONTROL_PORT` started one. */
  readonly controlUrl?: string;
  /** Everything the process printed so far. */
  output(): string;
  /** Sends Ctrl-C to the process group, as a terminal does, and resolves once every process has exited. */
  stop(): Promise<void>;
  /**
   * Sends `signal` to npm's own process only, as a supervisor or `kill <pid>` does, and resolves once
   * every process has exited: `forced` when they were still running 15 s later and had to be killed.
   */
  signalNpm(signal: NodeJS.Signals): Promise<{ readonly forced: boolean }>;
}

/**
 * Starts the local platform as a user does (`npm start`) on free ports and waits for its banner. It
 * keeps no state (`--in-memory`), so that platforms started side by side share nothing, unless
 * `stateDir` names a directory to keep it in.
 */
export async function startPlatformProcess(
  env: Record<string, string> = {},
  options: { readonly stateDir?: string } = {},
): Promise<PlatformProcess> {
  const args = options.stateDir ? ['start'] : ['start', '--', '--in-memory'];
  const child = spawn('npm', args, {
    env: {
      ...process.env,
      PORT: '0',
      TRITON_HTTP_PORT: '0',
      CONSOLE_PORT: '0',
      ...env,
      ...(options.stateDir ? { LOCAL_STATE_DIR: options.stateDir } : {}),
    },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  // 'close' waits for every process holding the output pipes (npm, tsx and node), not just npm.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`platform did not start in time:\n${output}`)), 90_000);
    const check = () => {
      if (output.includes('Local platform ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`platform exited with ${code} before it was ready:\n${output}`));
    });
  });

  const optionalUrl = (label: string) => new RegExp(`${label}\\s+(http://\\S+)`).exec(output)?.[1];
  const url = (label: string) => {
    const found = optionalUrl(label);
    if (!found) throw new Error(`no ${label} URL in the banner:\n${output}`);
    return found;
  };
  const controlUrl = optionalUrl('Control');
  return {
    apiUrl: url('API'),
    modelServerUrl: url('Model server'),
    consoleUrl: url('Console'),
    dynamodbUrl: url('DynamoDB \\(dynalite\\)'),
    sqsUrl: url('SQS \\(fauxqs\\)'),
    s3Url: url('S3 \\(fauxqs\\)'),
    submissionsQueueUrl: url('Batch submissions'),
    ...(controlUrl ? { controlUrl } : {}),
    output: () => output,
    stop: () => stopGroup(child, exited),
    signalNpm: async (signal) => {
      let forced = false;
      child.kill(signal);
      const timeout = setTimeout(() => {
        forced = true;
        killGroup(child, 'SIGKILL');
      }, 15_000);
      await exited;
      clearTimeout(timeout);
      return { forced };
    },
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is already gone
  }
}

async function stopGroup(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  killGroup(child, 'SIGINT');
  const timeout = setTimeout(() => killGroup(child, 'SIGKILL'), 15_000);
  await exited;
  clearTimeout(timeout);
}

/** Runs `npm run --silent token -- ...args` and returns what it printed. */
export async function npmToken(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'token', '--', ...args]);
  return stdout.trim();
}
