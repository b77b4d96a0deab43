/** What every command gets: its parsed command line, the process's streams and environment, and the API. */
import type { ApiClient } from './api-client';
import type { OptionValues } from './args';

export interface OutputStream {
  write(text: string, callback?: (error?: Error | null) => void): boolean;
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

/**
 * Writes and waits until the text has left the process, so a large result set is not buffered whole
 * in memory, and a reader that went away (EPIPE) is known before the command goes on to print more.
 */
export function write(stream: OutputStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (error) => (error ? reject(error) : resolve()));
  });
}

export const printJson = (io: CliIo, value: unknown) =>
  write(io.stdout, `${JSON.stringify(value, null, 2)}\n`);

/** Path segments are user input: encode them so a name cannot change the route. */
export const segment = (value: string) => encodeURIComponent(value);
