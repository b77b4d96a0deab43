/** The `inference-platform` command: see `npm run cli -- --help` and the README's CLI section. */
import { run } from '../cli/main';

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
