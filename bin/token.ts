import { parseArgs } from 'node:util';
import { parseArgsMessage } from '../cli/args';
import { platformToken } from '../local/dev-credentials';

const USAGE = `Prints a bearer token that the local platform accepts.

Usage: npm run --silent token -- [--sub S] [--scope 'a b c'] [--tier T] [--expires-in SECONDS]
  --sub         subject (principal id)            default: dev
  --scope       space-separated scopes            default: every scope
  --tier        rate-limit tier                    default: standard
  --expires-in  lifetime in seconds; --expires-in=-60 makes an expired token  default: 3600`;

/** A command-line mistake: one line on stderr, and exit 2 as the CLI's usage errors. */
function refuse(message: string): never {
  console.error(`token: ${message} (npm run --silent token -- --help for usage)`);
  process.exit(2);
}

function parseOptions() {
  return parseArgs({
    options: {
      sub: { type: 'string' },
      scope: { type: 'string' },
      tier: { type: 'string' },
      'expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
}
let values: ReturnType<typeof parseOptions>['values'];
try {
  ({ values } = parseOptions());
} catch (error) {
  refuse(parseArgsMessage(error));
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const raw = values['expires-in'] ?? '3600';
if (!/^-?\d{1,9}$/.test(raw)) refuse(`--expires-in must be a whole number of seconds, got '${raw}'`);

try {
  console.log(
    await platformToken({
      sub: values.sub,
      scope: values.scope,
      tier: values.tier,
      expiresInSeconds: Number(raw),
    }),
  );
} catch (error) {
  console.error(`token: ${(error as Error).message}`);
  process.exit(1);
}
