/**
 * `npm run bench`: measures the platform on this machine and writes bench/results.json.
 * Each figure is described in the README ("Benchmarks").
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { build } from 'esbuild';
import { LAMBDA_ESBUILD_OPTIONS } from '../lib/bundling';
import { API_FUNCTIONS, AUTHORIZER_FUNCTION } from '../lib/routes';
import { npmToken, startPlatformProcess } from '../local/platform-process';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = `${ROOT}.local/bench`;
const DURATION_SECONDS = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 8;
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

async function load(url: string, headers: Record<string, string>): Promise<LoadFigures> {
  const result = await autocannon({
    url,
    method: 'POST',
    body: INFER_BODY,
    headers: { 'content-type': 'application/json', ...headers },
    connections: CONNECTIONS,
    duration: DURATION_SECONDS,
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
    AWS_REGION: 'us-east-1',
    POWERTOOLS_TRACE_ENABLED: 'false',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const emptyLoadMs = moduleLoadMs(empty, env);
  const entries = {
    ...Object.fromEntries(Object.entries(API_FUNCTIONS).map(([n, f]) => [n, f.entry])),
    authorizer: AUTHORIZER_FUNCTION.entry,
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
    await load(`${platform.apiUrl}${path}`, { authorization: `Bearer ${token}` }).catch(() => undefined);
    const api = await load(`${platform.apiUrl}${path}`, { authorization: `Bearer ${token}` });
    const modelServer = await load(`${platform.modelServerUrl}${path}`, {});
    return {
      request: 'POST /v2/models/simple/infer, 1x16 INT32 x2, JSON',
      connections: CONNECTIONS,
      durationSeconds: DURATION_SECONDS,
      api,
      modelServer,
      overheadP50Ms: round(api.p50Ms - modelServer.p50Ms),
      overheadP99Ms: round(api.p99Ms - modelServer.p99Ms),
    };
  } finally {
    await platform.stop();
  }
}

const bundleFigures = await bundles();
const realtimeFigures = await realtime();
const results = {
  generatedAt: new Date().toISOString(),
  machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model },
  realtime: realtimeFigures,
  bundles: bundleFigures,
};
mkdirSync(`${ROOT}bench`, { recursive: true });
writeFileSync(`${ROOT}bench/results.json`, `${JSON.stringify(results, null, 2)}\n`);

const { api, modelServer } = realtimeFigures;
console.log('\nRealtime inference (%d connections, %d s each)', CONNECTIONS, DURATION_SECONDS);
console.table({
  'local API (gateway + authorizer + handler)': api,
  'model server directly': modelServer,
});
console.log(
  'API overhead over the model server: p50 %d ms, p99 %d ms',
  realtimeFigures.overheadP50Ms,
  realtimeFigures.overheadP99Ms,
);
console.log(
  '\nLambda bundles (minified ESM) and module load time (median of %d fresh processes)',
  LOAD_SAMPLES,
);
console.table(Object.fromEntries(bundleFigures.map(({ name, ...rest }) => [name, rest])));
if (api.errors + modelServer.errors > 0) {
  console.error('\nsome requests failed: the latency and throughput figures above are not valid');
  process.exitCode = 1;
}
console.log(`\nwrote bench/results.json (${readFileSync(`${ROOT}bench/results.json`).length} bytes)`);
