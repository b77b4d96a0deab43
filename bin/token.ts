import { parseArgs } from 'node:util';
import * as z from 'zod';
import { platformToken } from '../local/dev-credentials';

const USAGE = `Prints a bearer token that the local platform accepts.

Usage: npm run --silent token -- [--sub S] [--scope 'a b c'] [--tier T] [--expires-in SECONDS]
  --sub         subject (principal id)            default: dev
  --scope       space-separated scopes            default: every scope
  --tier        rate-limit tier                    default: standard
  --expires-in  lifetime in seconds; --expires-in=-60 makes an expired token  default: 3600`;

try {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string' },
      scope: { type: 'string' },
      tier: { type: 'string' },
      'expires-in': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const expiresIn = z.coerce.number().int().default(3600).parse(values['expires-in']);
  console.log(
    await platformToken({
      sub: values.sub,
      scope: values.scope,
      tier: values.tier,
      expiresInSeconds: expiresIn,
    }),
  );
} catch (error) {
  console.error(`token: ${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
