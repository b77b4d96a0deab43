import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { listeningSockets, ownerOf, socketInodesOf } from '../helpers/listening-sockets';

const portOf = (url: string) => Number(new URL(url).port);

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The platform process (the one serving the API), every port it listens on, and those sockets. */
function platformSockets(platform: PlatformProcess): { pid: number; ports: number[]; inodes: Set<string> } {
  const sockets = listeningSockets();
  const api = sockets.find((s) => s.port === portOf(platform.apiUrl));
  if (!api) throw new Error('nothing listens on the API port');
  const pid = ownerOf(api.inode);
  if (pid === undefined) throw new Error('no process holds the API socket');
  const owned = socketInodesOf(pid);
  const listening = sockets.filter((s) => owned.has(s.inode));
  return { pid, ports: listening.map((s) => s.port), inodes: new Set(listening.map((s) => s.inode)) };
}

// A tool that stops `npm start` signals the pid it started, npm's own, not the process group.
describe.runIf(process.platform === 'linux')('`npm start` stopped by a signal to npm', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'stops the platform and frees every port on %s',
    async (signal) => {
      const platform = await startPlatformProcess({ LOCAL_CONTROL_PORT: '0' });
      const { pid, ports, inodes } = platformSockets(platform);
      // API, model server, console, DynamoDB, SQS, Secrets Manager and the control API.
      expect(ports.length).toBeGreaterThanOrEqual(7);

      const { forced } = await platform.signalNpm(signal);

      expect(forced, `still running 15 s after ${signal}:\n${platform.output()}`).toBe(false);
      expect(isRunning(pid)).toBe(false);
      // The platform's own sockets, not whatever holds their ports now: a platform started by a file
      // running alongside may already have been given one of the freed ephemeral ports.
      const stillListening = listeningSockets().filter((s) => inodes.has(s.inode));
      expect(stillListening).toEqual([]);
      expect(platform.output()).toContain(`${signal} received, stopping`);
      expect(platform.output()).toContain('Local platform stopped.');
    },
    120_000,
  );
});

describe.runIf(process.platform === 'linux')('`npm start` on a port already in use', () => {
  let taken: Server;

  afterAll(async () => {
    await new Promise((resolve) => taken?.close(resolve));
  });

  it.each(['PORT', 'TRITON_HTTP_PORT', 'CONSOLE_PORT'])(
    'says in one line to change %s, with no stack trace, and leaves nothing running',
    async (variable) => {
      taken ??= await new Promise<Server>((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => resolve(server));
      });
      const port = (taken.address() as { port: number }).port;
      const child = spawn('npm', ['start', '--', '--in-memory'], {
        env: {
          ...process.env,
          PORT: '0',
          TRITON_HTTP_PORT: '0',
          CONSOLE_PORT: '0',
          [variable]: String(port),
        },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.stdout.resume();
      // 'close' waits for every process holding the pipes: npm and the platform.
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));

      expect(code).toBe(1);
      const lines = stderr.split('\n').filter((line) => line.includes(String(port)));
      expect(lines).toEqual([
        `Port ${port} is already in use: set ${variable} to a free port (0 picks one), e.g. ${variable}=0 npm start`,
      ]);
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(stderr).not.toContain('EADDRINUSE');
    },
    120_000,
  );
});
