/** Runs one command line and returns the exit code; bin/cli.ts is the process around it. */
import { ApiClient } from './api-client';
import { type CommandLine, PROGRAM, parseCommandLine, resolveConfig } from './args';
import * as batch from './commands/batch';
import { infer } from './commands/infer';
import {
  deleteModelVersion,
  getModel,
  listModels,
  promoteModel,
  pushModel,
  registerModel,
  rollbackModel,
} from './commands/models';
import type { CliIo, CommandContext } from './context';
import { CliError, EXIT_FAILURE, EXIT_USAGE, UsageError } from './errors';

type Command = (ctx: CommandContext) => Promise<number>;

const HANDLERS: Record<string, Command> = {
  infer,
  'batch submit': batch.submit,
  'batch status': batch.status,
  'batch wait': batch.wait,
  'batch results': batch.results,
  'batch list': batch.list,
  'batch cancel': batch.cancel,
  'models list': listModels,
  'models get': getModel,
  'models register': registerModel,
  'models push': pushModel,
  'models promote': promoteModel,
  'models rollback': rollbackModel,
  'models delete': deleteModelVersion,
};

export interface RunOptions {
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

export async function run(argv: readonly string[], io: CliIo, options: RunOptions = {}): Promise<number> {
  let line: CommandLine | undefined;
  try {
    line = parseCommandLine(argv);
    if ('help' in line) {
      io.stdout.write(`${line.help}\n`);
      return 0;
    }
    const config = resolveConfig(line.values, io.env);
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    let client: ApiClient | undefined;
    const ctx: CommandContext = {
      args: line.args,
      values: line.values,
      io,
      sleep,
      now: options.now ?? Date.now,
      api: () => {
        client ??= new ApiClient({
          ...config,
          sleep,
          onRetry: (message) => io.stderr.write(`${message}\n`),
          ...(options.fetch ? { fetch: options.fetch } : {}),
        });
        return client;
      },
    };
    return await HANDLERS[line.command]!(ctx);
  } catch (error) {
    // The reader stopped early (`| head`): the rest of the output is not wanted, which is no failure.
    if ((error as NodeJS.ErrnoException)?.code === 'EPIPE') return 0;
    if (error instanceof UsageError) {
      const command = error.command ?? (line && 'command' in line ? line.command : undefined);
      const help = command ? `${PROGRAM} ${command} --help` : `${PROGRAM} --help`;
      io.stderr.write(`${PROGRAM}: ${error.message}\nRun '${help}' for usage.\n`);
      return EXIT_USAGE;
    }
    if (error instanceof CliError) {
      io.stderr.write(`${PROGRAM}: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    io.stderr.write(`${PROGRAM}: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    return EXIT_FAILURE;
  }
}
