/**
 * `npm run bench`: measures the platform on this machine and writes bench/results.json.
 * Each figure is described in the README ("Benchmarks").
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { build } from 'esbuild';
import { METRICS_NAMESPACE, SERVICE_NAMES } from '../contracts/metric-catalog';
import { API_FUNCTIONS, AUTHORIZER_FUNCTION } from '../contracts/routes';
import { BATCH_FUNCTIONS } from '../lib/batch-pipeline';
import { LAMBDA_ESBUILD_OPTIONS } from '../lib/bundling';
import { circuitSettingsOf } from '../lib/config';
import { LOCAL_TABLE_ENVIRONMENT, readLocalConfig } from '../local/platform';
import { npmToken, startPlatformProcess } from '../local/platform-process';
import {
  BENCH_INPUT,
  BENCH_LAYERS,
  BENCH_MAX_BATCH_SIZE,
  BENCH_MODEL_NAME,
  BENCH_OUTPUT,
  BENCH_QUEUE_DELAY_MICROSECONDS,
  writeBenchRepositories,
} from './bench-model';
import { simpleBinaryRequest } from './simple-request';
import { checkTargets } from './targets';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = `${ROOT}.local/bench`;
const DURATION_SECONDS = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 8;
const BATCHING_CONNECTIONS = 32;
const WARM_UP_SECONDS = 2;
const LOAD_SAMPLES = 15;

interface LoadFigures {
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
  requests: number;
  errors: number;
}

const INPUT = Array.from({ length: 16 }, (_, i) => i);
const INFER_BODY = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: INPUT },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: INPUT },
  ],
});

interface LoadOptions {
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly connections?: number;
  readonly duration?: number;
}

async function load(url: string, options: LoadOptions = {}): Promise<LoadFigures> {
  const result = await autocannon({
    url,
    method: 'POST',
    body: options.body ?? INFER_BODY,
    headers: { 'content-type': 'application/json', ...options.headers },
    connections: options.connections ?? CONNECTIONS,
    duration: options.duration ?? DURATION_SECONDS,
  });
  return {
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requestsPerSecond: result.requests.average,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

/** Median wall time of importing a module in a fresh Node process, over several processes. */
function moduleLoadMs(file: string, env: Record<string, string>): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now() - t);`;
  const samples = Array.from({ length: LOAD_SAMPLES }, () =>
    Number(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
      }).trim(),
    ),
  );
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

async function bundles() {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const empty = `${OUT_DIR}/empty.mjs`;
  writeFileSync(empty, 'export {};\n');
  // Handlers validate their environment at load, as in Lambda; give them what the stack would.
  const env = {
    REGISTRY_TABLE_NAME: 'registry',
    RATE_LIMIT_TABLE_NAME: 'rate-limits',
    RATE_LIMIT_TIERS: JSON.stringify({ standard: { limit: 600, windowSeconds: 60 } }),
    JWT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench',
    AWS_SESSION_TOKEN: 'bench',
    BATCH_TABLE_NAME: 'batch',
    SUBMISSIONS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/submissions',
    WORK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/work',
    WORK_MAX_RECEIVE_COUNT: '3',
    CIRCUIT_TABLE_NAME: 'circuits',
    CIRCUIT_SETTINGS: JSON.stringify({
      failureThreshold: 5,
      windowSeconds: 30,
      cooldownSeconds: 30,
      probeTimeoutSeconds: 30,
      cacheTtlMs: 1000,
    }),
    AWS_REGION: 'us-east-1',
    POWERTOOLS_TRACE_ENABLED: 'false',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const emptyLoadMs = moduleLoadMs(empty, env);
  const entries = {
    ...Object.fromEntries(Object.entries(API_FUNCTIONS).map(([n, f]) => [n, f.entry])),
    authorizer: AUTHORIZER_FUNCTION.entry,
    'batch-fan-out': BATCH_FUNCTIONS.fanOut.entry,
    'batch-worker': BATCH_FUNCTIONS.worker.entry,
    // Runs at deploy time only, so its cold start is nobody's latency; listed for completeness.
    deployment: 'functions/handlers/deployment/handler.ts',
  };
  const figures = [];
  for (const [name, entry] of Object.entries(entries)) {
    const outfile = `${OUT_DIR}/${name}/index.mjs`;
    await build({
      ...LAMBDA_ESBUILD_OPTIONS,
      entryPoints: [`${ROOT}${entry}`],
      outfile,
      logLevel: 'warning',
    });
    const loadMs = moduleLoadMs(outfile, env);
    figures.push({
      name,
      bytes: statSync(outfile).size,
      loadMs: round(loadMs),
      emptyModuleLoadMs: round(emptyLoadMs),
      loadOverheadMs: round(loadMs - emptyLoadMs),
    });
  }
  return figures;
}

const round = (x: number) => Math.round(x * 100) / 100;

/** Forwards to `target` and notes when each request arrived, to count the calls a process makes. */
async function countingProxy(target: string) {
  const arrivals: number[] = [];
  const server = createServer((req, res) => {
    arrivals.push(Date.now());
    const upstream = httpRequest(
      new URL(req.url ?? '/', target),
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    between: (from: number, to: number) => arrivals.filter((t) => t >= from && t <= to).length,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The built inference bundle in its own process, as a warm Lambda container, against the local
 * platform's DynamoDB (through a counting proxy) and model server: CPU per request and DynamoDB
 * calls per request once caches are warm.
 */
async function warmRequest() {
  const platform = await startPlatformProcess({ LOG_LEVEL: 'ERROR' });
  const proxy = await countingProxy(platform.dynamodbUrl);
  try {
    // Asynchronous: the counting proxy lives in this process and must keep answering.
    const { stdout: output } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', `${ROOT}bench/warm-request.ts`, `${OUT_DIR}/inference/index.mjs`, '1000'],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        env: {
          ...process.env,
          ...LOCAL_TABLE_ENVIRONMENT,
          CIRCUIT_SETTINGS: JSON.stringify(circuitSettingsOf(readLocalConfig())),
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          AWS_SESSION_TOKEN: 'local',
          AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
          AWS_ENDPOINT_URL_DYNAMODB: proxy.url,
          AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: platform.modelServerUrl,
          RATE_LIMIT_TIERS: JSON.stringify({ standard: { limit: 1_000_000, windowSeconds: 60 } }),
          POWERTOOLS_SERVICE_NAME: SERVICE_NAMES.inference,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          POWERTOOLS_LOG_LEVEL: 'WARN',
          POWERTOOLS_TRACE_ENABLED: 'false',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
      },
    );
    // The last line is the measurement; the lines before it are the handler's EMF metrics.
    const measured = JSON.parse(output.trim().split('\n').pop()!) as {
      cpuMsPerRequest: number;
      startedAt: number;
      endedAt: number;
      requests: number;
    };
    return {
      requests: measured.requests,
      cpuMsPerRequest: round(measured.cpuMsPerRequest),
      dynamoDbCallsPerRequest: round(proxy.between(measured.startedAt, measured.endedAt) / measured.requests),
    };
  } finally {
    await proxy.close();
    await platform.stop();
  }
}

async function realtime() {
  // The bench measures the limiter's cost, not its refusals: one tier with room for the whole run.
  const platform = await startPlatformProcess({
    LOG_LEVEL: 'ERROR',
    RATE_LIMIT_TIERS: JSON.stringify({ standard: { limit: 1_000_000, windowSeconds: 60 } }),
  });
  try {
    const token = await npmToken('--sub', 'bench');
    const path = '/v2/models/simple/infer';
    // Warm both paths (module init, sessions, authorizer cache) before measuring.
    const authorization = { authorization: `Bearer ${token}` };
    await load(`${platform.apiUrl}${path}`, { headers: authorization }).catch(() => undefined);
    const api = await load(`${platform.apiUrl}${path}`, { headers: authorization });
    const modelServer = await load(`${platform.modelServerUrl}${path}`);
    const binary = simpleBinaryRequest(INPUT, { binaryOutputs: true });
    const binaryHeaders = {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(binary.headerLength),
      accept: 'application/octet-stream',
    };
    const binaryApi = await load(`${platform.apiUrl}${path}`, {
      body: binary.body,
      headers: { ...binaryHeaders, ...authorization },
    });
    const binaryModelServer = await load(`${platform.modelServerUrl}${path}`, {
      body: binary.body,
      headers: binaryHeaders,
    });
    const figures = (request: string, viaApi: LoadFigures, direct: LoadFigures) => ({
      request,
      connections: CONNECTIONS,
      durationSeconds: DURATION_SECONDS,
      api: viaApi,
      modelServer: direct,
      overheadP50Ms: round(viaApi.p50Ms - direct.p50Ms),
      overheadP99Ms: round(viaApi.p99Ms - direct.p99Ms),
    });
    return {
      json: figures('POST /v2/models/simple/infer, 1x16 INT32 x2, JSON', api, modelServer),
      binary: figures(
        'POST /v2/models/simple/infer, 1x16 INT32 x2, binary tensors in and out',
        binaryApi,
        binaryModelServer,
      ),
    };
  } finally {
    await platform.stop();
  }
}

const BATCH_ITEMS = 10_000;
const TERMINAL = new Set(['SUCCEEDED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCELLED']);

/** Iris-like measurements (cm), varied deterministically across items. */
const irisRow = (i: number) => [
  4.3 + (i % 36) / 10,
  2 + (i % 24) / 10,
  1 + (i % 59) / 10,
  0.1 + (i % 25) / 10,
];
const irisRequest = (rows: number, offset = 0) =>
  JSON.stringify({
    inputs: [
      {
        name: 'FEATURES',
        shape: [rows, 4],
        datatype: 'FP32',
        data: Array.from({ length: rows }, (_, i) => irisRow(offset + i)).flat(),
      },
    ],
  });

interface ChunkTiming {
  jobId: string;
  items: number;
  queueMs?: number;
  inferenceMs: number;
  storageMs: number;
}

/**
 * A 10,000-item job through the local platform (HTTPS submission, fan-out, worker, exactly-once
 * writes, polling), against the same items sent one by one through the realtime API and against
 * the model's own throughput at the job's chunk size. The worker logs where each chunk's time went.
 */
async function batchThroughput() {
  const platform = await startPlatformProcess({
    LOG_LEVEL: 'INFO',
    RATE_LIMIT_TIERS: JSON.stringify({ standard: { limit: 1_000_000, windowSeconds: 60 } }),
  });
  try {
    const token = await npmToken('--sub', 'bench-batch');
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const items = Array.from({ length: BATCH_ITEMS }, (_, i) => ({
      inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: irisRow(i) }],
    }));
    const started = performance.now();
    const submitted = await fetch(`${platform.apiUrl}/v1/batch-jobs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'iris', items }),
    });
    if (submitted.status !== 202)
      throw new Error(`batch submission failed: ${submitted.status} ${await submitted.text()}`);
    const { jobId } = (await submitted.json()) as { jobId: string };
    let job: { status: string; succeeded: number; failed: number } = {
      status: 'QUEUED',
      succeeded: 0,
      failed: 0,
    };
    while (!TERMINAL.has(job.status)) {
      if (performance.now() - started > 180_000) throw new Error(`batch job ${jobId} did not finish in time`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      job = (await (
        await fetch(`${platform.apiUrl}/v1/batch-jobs/${jobId}`, { headers })
      ).json()) as typeof job;
    }
    const seconds = (performance.now() - started) / 1000;
    const chunks = platform
      .output()
      .split('\n')
      .filter((line) => line.includes('"chunk processed"'))
      .map((line) => JSON.parse(line) as ChunkTiming)
      .filter((c) => c.jobId === jobId);
    const chunkSize = Math.max(...chunks.map((c) => c.items));
    const sum = (key: 'queueMs' | 'inferenceMs' | 'storageMs') =>
      chunks.reduce((t, c) => t + (c[key] ?? 0), 0);
    const oneByOne = await load(`${platform.apiUrl}/v2/models/iris/infer`, {
      body: irisRequest(1),
      headers: { authorization: headers.authorization },
    });
    const model = await load(`${platform.modelServerUrl}/v2/models/iris/infer`, {
      body: irisRequest(chunkSize),
    });
    return {
      items: BATCH_ITEMS,
      status: job.status,
      succeeded: job.succeeded,
      failed: job.failed,
      seconds: round(seconds),
      batchItemsPerSecond: round(BATCH_ITEMS / seconds),
      realtimeOneByOneItemsPerSecond: round(oneByOne.requestsPerSecond),
      realtimeOneByOneErrors: oneByOne.errors,
      modelItemsPerSecond: round(model.requestsPerSecond * chunkSize),
      modelErrors: model.errors,
      batchOverOneByOne: round(BATCH_ITEMS / seconds / oneByOne.requestsPerSecond),
      chunks: chunks.length,
      chunkSize,
      chunkTimeMs: {
        queue: round(sum('queueMs') / chunks.length),
        inference: round(sum('inferenceMs') / chunks.length),
        storage: round(sum('storageMs') / chunks.length),
      },
    };
  } finally {
    await platform.stop();
  }
}

/** A model server on `repository` in its own process, so autocannon's CPU time is not the server's. */
async function startModelServerProcess(repository: string): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', `${ROOT}bench/model-server-process.ts`, repository],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the model server did not start:\n${output}`)), 60_000);
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /Model server (http:\/\/\S+)/.exec(output)?.[1];
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the model server exited before it was ready:\n${output}`));
    });
  });
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Executions and inferences (rows) so far, from Triton's statistics route. */
async function executionCounts(url: string): Promise<{ executions: number; inferences: number }> {
  const response = await fetch(`${url}/v2/models/${BENCH_MODEL_NAME}/stats`);
  const { model_stats } = (await response.json()) as {
    model_stats: { execution_count: number; inference_count: number }[];
  };
  return { executions: model_stats[0]!.execution_count, inferences: model_stats[0]!.inference_count };
}

/** One row of the bench MLP as Triton clients send it: binary input, binary output. */
function batchingRequest(): { body: Buffer; headers: Record<string, string> } {
  const width = BENCH_LAYERS[0];
  const row = Float32Array.from({ length: width }, (_, i) => Math.sin(i));
  const header = JSON.stringify({
    inputs: [
      {
        name: BENCH_INPUT,
        shape: [1, width],
        datatype: 'FP32',
        parameters: { binary_data_size: row.byteLength },
      },
    ],
    outputs: [{ name: BENCH_OUTPUT, parameters: { binary_data: true } }],
  });
  return {
    body: Buffer.concat([Buffer.from(header), Buffer.from(row.buffer)]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(Buffer.byteLength(header)),
    },
  };
}

async function dynamicBatching() {
  const { batched, unbatched, parameters } = await writeBenchRepositories(`${OUT_DIR}/models`);
  const request = batchingRequest();
  const measure = async (repository: string) => {
    const server = await startModelServerProcess(repository);
    try {
      const url = `${server.url}/v2/models/${BENCH_MODEL_NAME}/infer`;
      const options = { ...request, connections: BATCHING_CONNECTIONS };
      await load(url, { ...options, duration: WARM_UP_SECONDS });
      const before = await executionCounts(server.url);
      const figures = await load(url, options);
      const after = await executionCounts(server.url);
      const executions = after.executions - before.executions;
      return {
        ...figures,
        executions,
        meanBatchSize: executions === 0 ? 0 : round((after.inferences - before.inferences) / executions),
      };
    } finally {
      await server.stop();
    }
  };
  const withoutBatching = await measure(unbatched);
  const withBatching = await measure(batched);
  return {
    model: `MLP ${BENCH_LAYERS.join('-')} (ReLU), FP32, ${parameters} parameters`,
    maxBatchSize: BENCH_MAX_BATCH_SIZE,
    maxQueueDelayMicroseconds: BENCH_QUEUE_DELAY_MICROSECONDS,
    request: `POST /v2/models/${BENCH_MODEL_NAME}/infer, 1x${BENCH_LAYERS[0]} FP32, binary tensors in and out`,
    connections: BATCHING_CONNECTIONS,
    durationSeconds: DURATION_SECONDS,
    unbatched: withoutBatching,
    batched: withBatching,
    throughputRatio: round(withBatching.requestsPerSecond / withoutBatching.requestsPerSecond),
  };
}

const bundleFigures = await bundles();
const warmRequestFigures = await warmRequest();
const realtimeFigures = await realtime();
const batchingFigures = await dynamicBatching();
const batchFigures = await batchThroughput();
const targets = checkTargets({
  bundles: bundleFigures,
  warmRequest: warmRequestFigures,
  batch: batchFigures,
  dynamicBatching: batchingFigures,
});
const results = {
  generatedAt: new Date().toISOString(),
  machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model },
  realtime: realtimeFigures,
  dynamicBatching: batchingFigures,
  batch: batchFigures,
  bundles: bundleFigures,
  warmRequest: warmRequestFigures,
  targets,
};
mkdirSync(`${ROOT}bench`, { recursive: true });
writeFileSync(`${ROOT}bench/results.json`, `${JSON.stringify(results, null, 2)}\n`);

console.log('\nRealtime inference (%d connections, %d s each)', CONNECTIONS, DURATION_SECONDS);
for (const [encoding, figures] of Object.entries(realtimeFigures)) {
  console.table({
    [`${encoding}: local API (gateway + authorizer + handler)`]: figures.api,
    [`${encoding}: model server directly`]: figures.modelServer,
  });
  console.log(
    '%s: API overhead over the model server: p50 %d ms, p99 %d ms',
    encoding,
    figures.overheadP50Ms,
    figures.overheadP99Ms,
  );
}
console.log(
  '\nDynamic batching: %s, one row per request (%d connections, %d s each)',
  batchingFigures.model,
  BATCHING_CONNECTIONS,
  DURATION_SECONDS,
);
console.table({
  'without dynamic_batching': batchingFigures.unbatched,
  [`dynamic_batching (max ${BENCH_MAX_BATCH_SIZE}, ${BENCH_QUEUE_DELAY_MICROSECONDS} us)`]:
    batchingFigures.batched,
});
console.log('Throughput with dynamic batching: %dx', batchingFigures.throughputRatio);
console.log('\nBatch inference: %d iris items through the local platform', BATCH_ITEMS);
console.table({
  'batch job (HTTPS submit to SUCCEEDED)': { itemsPerSecond: batchFigures.batchItemsPerSecond },
  'same items one by one, realtime API, 8 connections': {
    itemsPerSecond: batchFigures.realtimeOneByOneItemsPerSecond,
  },
  [`model server alone, ${batchFigures.chunkSize} rows per request`]: {
    itemsPerSecond: batchFigures.modelItemsPerSecond,
  },
});
console.log(
  'batch / one by one: %dx; %d chunks of up to %d items; mean per chunk: queued %d ms, inference %d ms, storage %d ms',
  batchFigures.batchOverOneByOne,
  batchFigures.chunks,
  batchFigures.chunkSize,
  batchFigures.chunkTimeMs.queue,
  batchFigures.chunkTimeMs.inference,
  batchFigures.chunkTimeMs.storage,
);
console.log(
  '\nLambda bundles (minified ESM) and module load time (median of %d fresh processes)',
  LOAD_SAMPLES,
);
console.table(Object.fromEntries(bundleFigures.map(({ name, ...rest }) => [name, rest])));
console.log(
  '\nWarm realtime request in the inference bundle (%d sequential requests): %d ms CPU, %d DynamoDB calls each',
  warmRequestFigures.requests,
  warmRequestFigures.cpuMsPerRequest,
  warmRequestFigures.dynamoDbCallsPerRequest,
);
console.log('\nTargets');
console.table(
  targets.map(({ figure, measured, target, met }) => ({
    figure,
    measured,
    target,
    result: met ? 'met' : 'MISSED',
  })),
);
const missed = targets.filter((t) => !t.met).length;
console.log(missed === 0 ? 'every target met' : `${missed} of ${targets.length} targets missed`);
const errors =
  Object.values(realtimeFigures).reduce((sum, f) => sum + f.api.errors + f.modelServer.errors, 0) +
  batchingFigures.unbatched.errors +
  batchingFigures.batched.errors +
  batchFigures.realtimeOneByOneErrors +
  batchFigures.modelErrors +
  batchFigures.failed;
if (errors > 0) {
  console.error('\nsome requests failed: the latency and throughput figures above are not valid');
  process.exitCode = 1;
}
console.log(`\nwrote bench/results.json (${readFileSync(`${ROOT}bench/results.json`).length} bytes)`);
