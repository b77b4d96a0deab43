/**
 * Each Lambda function built as the stack deploys it: bundle size, and module load time over an
 * empty module's.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { FUNCTIONS } from '../../contracts/functions';
import { LAMBDA_ESBUILD_OPTIONS } from '../../lib/lambda-esbuild-options';
import { median, OUT_DIR, ROOT, round } from './measure';

const LOAD_SAMPLES = 15;

/**
 * Handlers validate their environment at load, as in Lambda; this gives every function what the
 * stack would (`test/unit/bench-environment.test.ts` checks it against the function catalogue).
 * Tracing is not switched off, as it is not in the stack: the X-Ray SDK loads as it does deployed.
 */
export const FUNCTION_ENVIRONMENT: Record<string, string> = {
  REGISTRY_TABLE_NAME: 'registry',
  RATE_LIMIT_TABLE_NAME: 'rate-limits',
  RATE_LIMIT_TIERS: JSON.stringify({ standard: { limit: 600, windowSeconds: 60 } }),
  JWT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:bench',
  AWS_SESSION_TOKEN: 'bench',
  BATCH_TABLE_NAME: 'batch',
  BATCH_DATA_BUCKET: 'batch-data',
  BATCH_RETENTION_SECONDS: '2592000',
  BATCH_EVENT_BUS_NAME: 'batch-events',
  SUBMISSIONS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/submissions',
  WORK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/work',
  WORK_MAX_RECEIVE_COUNT: '5',
  BATCH_OUTAGE_BUDGET_SECONDS: '900',
  BATCH_STALL_TIMEOUT_SECONDS: '7200',
  BATCH_WORK_WINDOW: '3',
  WORK_DEAD_LETTER_QUEUE_ARN: 'arn:aws:sqs:us-east-1:000000000000:work-dlq',
  CIRCUIT_TABLE_NAME: 'circuits',
  CIRCUIT_SETTINGS: JSON.stringify({
    failureThreshold: 5,
    windowSeconds: 30,
    cooldownSeconds: 30,
    probeTimeoutSeconds: 30,
    cacheTtlMs: 1000,
  }),
  AWS_REGION: 'us-east-1',
  ENDPOINT_NAME: 'triton-endpoint',
  INVOKABLE_ENDPOINT_NAMES: 'triton-endpoint',
  MODEL_STORE_URL: 's3://model-store/models/',
  WARMUP_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/warmup',
  WARMUP_DEAD_LETTER_QUEUE_ARN: 'arn:aws:sqs:us-east-1:000000000000:warmup-dlq',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

/** Where the bundle of function `name` is built; the warm request figure loads `inference` from here. */
export const bundlePath = (name: string) => `${OUT_DIR}/${name}/index.mjs`;

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
  return median(samples);
}

/** Starts the bench's output folder afresh: the other figures write theirs after this one. */
export async function measureBundles() {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const empty = `${OUT_DIR}/empty.mjs`;
  writeFileSync(empty, 'export {};\n');
  const env = FUNCTION_ENVIRONMENT;

  const emptyLoadMs = moduleLoadMs(empty, env);
  // The deployment function runs at deploy time only, so its cold start is nobody's latency; listed
  // for completeness.
  const entries = Object.fromEntries(Object.values(FUNCTIONS).map((f) => [f.name, f.entry]));
  const figures = [];
  for (const [name, entry] of Object.entries(entries)) {
    const outfile = bundlePath(name);
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

export type BundleFigures = Awaited<ReturnType<typeof measureBundles>>;

export function printBundles(figures: BundleFigures): void {
  console.log(
    '\nLambda bundles (minified ESM) and module load time (median of %d fresh processes)',
    LOAD_SAMPLES,
  );
  console.table(Object.fromEntries(figures.map(({ name, ...rest }) => [name, rest])));
}
