import * as z from 'zod';
import { devToken } from '../local/dev-credentials';
import { startLocalPlatform } from '../local/platform';
import { START_USAGE, StateDirInUseError, startStateOptions } from '../local/state-dir';

const port = z.coerce.number().int().min(0).max(65_535);
const env = z
  .object({
    PORT: port.default(3000),
    TRITON_HTTP_PORT: port.default(8000),
    CONSOLE_PORT: port.default(3001),
  })
  .parse(process.env);

/** The variable that sets each fixed port, to name in the message when that port is taken. */
const PORT_VARIABLES: [string, number | undefined][] = [
  ['PORT', env.PORT],
  ['TRITON_HTTP_PORT', env.TRITON_HTTP_PORT],
  ['CONSOLE_PORT', env.CONSOLE_PORT],
  ['LOCAL_CONTROL_PORT', process.env.LOCAL_CONTROL_PORT ? Number(process.env.LOCAL_CONTROL_PORT) : undefined],
];

let state: ReturnType<typeof startStateOptions>;
try {
  state = startStateOptions(process.argv.slice(2), process.env);
} catch (error) {
  console.error(`${(error as Error).message}\n\n${START_USAGE}`);
  process.exit(2);
}

let platform: Awaited<ReturnType<typeof startLocalPlatform>>;
try {
  platform = await startLocalPlatform({
    apiPort: env.PORT,
    tritonPort: env.TRITON_HTTP_PORT,
    consolePort: env.CONSOLE_PORT,
    ...state,
  });
} catch (error) {
  if (error instanceof StateDirInUseError) {
    console.error(error.message);
    process.exit(1);
  }
  const { code, port } = error as { code?: string; port?: number };
  const variable = PORT_VARIABLES.find(
    ([, value]) => value !== undefined && value !== 0 && value === port,
  )?.[0];
  if (code !== 'EADDRINUSE' || variable === undefined) throw error;
  // startLocalPlatform has closed whatever it had started; a stack trace would only hide the fix.
  console.error(
    `Port ${port} is already in use: set ${variable} to a free port (0 picks one), e.g. ${variable}=0 npm start`,
  );
  process.exit(1);
}
const token = await devToken({
  issuer: platform.config.jwtIssuer,
  audience: platform.config.jwtAudience,
  tokenType: platform.config.jwtTokenType,
  tokenUse: platform.config.jwtTokenUse,
});
const models = platform.models.map((m) => `${m.name} (versions ${m.versions.join(', ')})`).join('; ');
const input = Array.from({ length: 16 }, (_, i) => i);

console.log(`
Inference platform running locally
  API                 ${platform.apiUrl}
  Model server        ${platform.modelServerUrl}   (Triton HTTP API and SageMaker Runtime API)
  Console             ${platform.consoleUrl}   (models, batch jobs, traffic)
  DynamoDB (dynalite) ${platform.dynamodbUrl}
  SQS (fauxqs)        ${platform.sqsUrl}
  S3 (fauxqs)         ${platform.s3Url}
  Batch submissions   ${platform.submissionsQueueUrl}${platform.controlUrl ? `\n  Control             ${platform.controlUrl}   (fault injection, recycling, memory; LOCAL_CONTROL_PORT)` : ''}
  Models              ${models}
  State               ${platform.stateDir ? `${platform.stateDir}   (kept across restarts; npm start -- --fresh empties it)` : 'in memory (forgotten when the platform stops)'}

Dev token (subject dev, every scope, one hour; make others with npm run --silent token -- --help):
${token}

Try it:
  TOKEN=$(npm run --silent token)
  curl -s ${platform.apiUrl}/v2/models/simple/infer \\
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
    -d '{"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":${JSON.stringify(input)}},{"name":"INPUT1","shape":[1,16],"datatype":"INT32","data":${JSON.stringify(input.map(() => 1))}}]}'

Local platform ready. Press Ctrl-C to stop.`);

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal} received, stopping`);
  await platform.close();
  console.log('Local platform stopped.');
  process.exit(0);
}
// `npm start` runs `exec node ...`, so npm's child is this process and npm forwards SIGINT and
// SIGTERM to it (@npmcli/run-script's signal manager); no shell in between swallows one or exits
// without passing it on. `on`, not `once`: Ctrl-C reaches npm and this process alike, and npm passes
// it on, so a second SIGINT arrives while closing; with no listener it would kill the process mid-close.
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
