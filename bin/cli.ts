/** The `inference-platform` command: see `npm run cli -- --help` and the README's CLI section. */
import { run } from '../cli/main';

// A reader that stops early (`| head`) closes the pipe: the rest of the output is not wanted, which
// is no failure, and no stack trace belongs on the terminal.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
