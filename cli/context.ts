/** What every command gets: its parsed command line, the process's streams and environment, and the API. */
import type { ApiClient } from './api-client';
import type { OptionValues } from './args';

export interface OutputStream {
  write(text: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
  readonly isTTY?: boolean;
}

export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: NodeJS.ProcessEnv;
}

export interface CommandContext {
  readonly args: Record<string, string>;
  readonly values: OptionValues;
  readonly io: CliIo;
  /** Built on first use, so commands that never call the API (SQS submission) need no token. */
  api(): ApiClient;
  sleep(ms: number): Promise<void>;
  now(): number;
}

/** Writes and waits for the stream to drain, so a large result set is not buffered whole in memory. */
export async function write(stream: OutputStream, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

export const printJson = (io: CliIo, value: unknown) =>
  write(io.stdout, `${JSON.stringify(value, null, 2)}\n`);

/** Path segments are user input: encode them so a name cannot change the route. */
export const segment = (value: string) => encodeURIComponent(value);
