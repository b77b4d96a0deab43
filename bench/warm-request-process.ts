/**
 * Child process of `npm run bench`: loads the built inference bundle as Lambda would, against the
 * local platform's emulators (environment from the parent), and measures the CPU a warm request
 * costs the function: handler, SDK calls and their HTTP clients included, as Lambda bills it.
 * Prints one JSON line: `{ cpuMsPerRequest, startedAt, endedAt, requests }`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';

const [bundle, countArg] = process.argv.slice(2);
const REQUESTS = Number(countArg ?? 1000);
const WARM_UP = 200;

type Handler = (event: unknown, context: unknown) => Promise<{ statusCode: number; body: string }>;
const { handler } = (await import(pathToFileURL(bundle!).href)) as { handler: Handler };

const input = Array.from({ length: 16 }, (_, i) => i);
const event = (i: number) => ({
  resource: '/v2/models/{model}/infer',
  path: '/v2/models/simple/infer',
  httpMethod: 'POST',
  headers: { 'content-type': 'application/json', 'x-request-id': `warm-${i}` },
  multiValueHeaders: {},
  queryStringParameters: null,
  multiValueQueryStringParameters: null,
  pathParameters: { model: 'simple' },
  stageVariables: null,
  isBase64Encoded: false,
  body: JSON.stringify({
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: input },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: input },
    ],
  }),
  requestContext: {
    requestId: `warm-${i}`,
    httpMethod: 'POST',
    resourcePath: '/v2/models/{model}/infer',
    path: '/prod/v2/models/simple/infer',
    stage: 'prod',
    authorizer: {
      sub: 'bench-warm',
      scopes: 'inference:invoke',
      tier: 'standard',
      exp: String(Math.floor(Date.now() / 1000) + 3600),
    },
    identity: { sourceIp: '127.0.0.1' },
  },
});
const context = (i: number) => ({
  functionName: 'inference',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:inference',
  memoryLimitInMB: '512',
  awsRequestId: `warm-${i}`,
  logGroupName: '/aws/lambda/inference',
  logStreamName: 'bench',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 29_000,
  done() {},
  fail() {},
  succeed() {},
});

// BENCH_TRACE_SAMPLED_EVERY=n: a trace header per invocation, as Lambda's runtime sets it, every nth sampled.
const sampledEvery = Number(process.env.BENCH_TRACE_SAMPLED_EVERY ?? 0);
const invoke = async (i: number) => {
  if (sampledEvery > 0) {
    const epoch = Math.floor(Date.now() / 1000).toString(16);
    const id = i.toString(16).padStart(24, '0');
    process.env._X_AMZN_TRACE_ID = `Root=1-${epoch}-${id};Parent=${id.slice(8)};Sampled=${i % sampledEvery === 0 ? 1 : 0}`;
  }
  const result = await handler(event(i), context(i));
  if (result.statusCode !== 200) throw new Error(`request ${i}: ${result.statusCode} ${result.body}`);
};
for (let i = 0; i < WARM_UP; i++) await invoke(i);

// BENCH_CPU_PROF=<dir>: a CPU profile of the measured requests only (not the load or warm-up), for
// the `.cpuprofile` viewers. The profiler's own sampling adds to the CPU figure of that run.
const profileDir = process.env.BENCH_CPU_PROF;
const profiler = profileDir ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}
const startedAt = Date.now();
const before = process.cpuUsage();
for (let i = 0; i < REQUESTS; i++) await invoke(WARM_UP + i);
const cpu = process.cpuUsage(before);
const endedAt = Date.now();
if (profiler && profileDir) {
  const { profile } = await profiler.post('Profiler.stop');
  mkdirSync(profileDir, { recursive: true });
  writeFileSync(`${profileDir}/warm-requests-${startedAt}.cpuprofile`, JSON.stringify(profile));
  profiler.disconnect();
}
process.stdout.write(
  `${JSON.stringify({ cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / REQUESTS, startedAt, endedAt, requests: REQUESTS })}\n`,
);
