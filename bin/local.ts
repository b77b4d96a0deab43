import * as z from 'zod';
import { devToken } from '../local/dev-credentials';
import { startLocalPlatform } from '../local/platform';

const port = z.coerce.number().int().min(0).max(65_535);
const env = z
  .object({
    PORT: port.default(3000),
    TRITON_HTTP_PORT: port.default(8000),
    CONSOLE_PORT: port.default(3001),
  })
  .parse(process.env);

const platform = await startLocalPlatform({
  apiPort: env.PORT,
  tritonPort: env.TRITON_HTTP_PORT,
  consolePort: env.CONSOLE_PORT,
});
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
  Batch submissions   ${platform.submissionsQueueUrl}
  Models              ${models}

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
// `on`, not `once`: Ctrl-C reaches npm, tsx and this process alike, and each may pass it on, so a
// second SIGINT can arrive while closing; with no listener left it would kill the process mid-close.
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
