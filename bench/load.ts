/**
 * `npm run load`: autocannon against the local API at a fixed overall rate for 60 s, with a mix of
 * routes and two principals: one within its tier, and one driven past its limit, whose 429s are the
 * only refusals allowed. Prints requests, statuses, latency percentiles and the heap before and
 * after, writes bench/load-results.json and exits 1 when a target is missed.
 *
 * The platform runs in this process, so the heap is this process's, measured after forced GCs.
 * That covers the emulators, the API Gateway emulator, the model server and the output bus; the
 * function containers are worker threads with heaps of their own, and Lambda recycles those anyway.
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import autocannon from 'autocannon';
import { platformToken } from '../local/dev-credentials';
import { startLocalPlatform } from '../local/platform';
import { unitOf } from '../local/seeded-random';
import { simpleBinaryRequest } from '../test/helpers/binary-requests';

export interface LoadOptions {
  /** Seconds of measured load. @default 60 */
  readonly durationSeconds?: number;
  /** Requests per second of the principal within its tier (`premium`, 6000 a minute), over all connections. @default 40 */
  readonly rate?: number;
  /** Requests per second of the principal driven past its limit (the `trial` tier, 60 a minute). @default 5 */
  readonly limitedRate?: number;
  /** Seconds of the same traffic before the first heap sample. @default 10 */
  readonly warmUpSeconds?: number;
  /** Connections of the principal within its tier: enough to keep the rate when latency spikes. @default 16 */
  readonly connections?: number;
  /** Largest heap after / heap before allowed. @default 1.2 */
  readonly maxHeapRatio?: number;
  /** Write the results here. @default none */
  readonly resultsFile?: string;
  readonly log?: (line: string) => void;
}

export interface PrincipalFigures {
  readonly tier: string;
  readonly requests: number;
  readonly statuses: Record<string, number>;
  /** Connection errors and timeouts: requests without an answer. */
  readonly noAnswer: number;
  /** Answers other than 2xx, and 429 for the limited principal. */
  readonly errors: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
  };
}

export interface LoadResults {
  readonly generatedAt: string;
  readonly durationSeconds: number;
  readonly rate: number;
  readonly limitedRate: number;
  readonly withinTier: PrincipalFigures;
  readonly limited: PrincipalFigures;
  readonly heap: { readonly beforeBytes: number; readonly afterBytes: number; readonly ratio: number };
  /**
   * Where a slow request's time can go locally: cold starts during the measured load (containers
   * started and their mean init), and how long this process's event loop, which runs the
   * emulators, the model server and the load generator, was held up.
   */
  readonly coldStarts: Record<string, { readonly count: number; readonly meanMs: number }>;
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly targets: {
    readonly noErrors: boolean;
    readonly limitedPrincipalRefused: boolean;
    readonly heapWithinRatio: boolean;
    readonly maxHeapRatio: number;
  };
  readonly passed: boolean;
}

const simpleInput = (offset: number) => Array.from({ length: 16 }, (_, i) => i + offset);
const simpleJson = (offset: number) =>
  JSON.stringify({
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: simpleInput(offset) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: simpleInput(1) },
    ],
  });
const irisJson = (offset: number) =>
  JSON.stringify({
    inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: [5.1 + offset / 10, 3.5, 1.4, 0.2] }],
  });

/** `simple` with both inputs as binary tensors (JSON outputs). */
type Request = autocannon.Request;

/** One cycle of the within-tier principal's traffic: mostly inference, some reads. */
function trafficMix(authorization: string, jobId: string): Request[] {
  const json = { authorization, 'content-type': 'application/json' };
  const infer = (model: string, body: string): Request => ({
    method: 'POST',
    path: `/v2/models/${model}/infer`,
    headers: json,
    body,
  });
  const get = (path: string): Request => ({ method: 'GET', path, headers: { authorization } });
  const binary = simpleBinaryRequest(simpleInput(0), { binaryOutputs: false });
  const binaryInfer: Request = {
    method: 'POST',
    path: '/v2/models/simple/infer',
    headers: {
      authorization,
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(binary.headerLength),
    },
    body: binary.body,
  };
  return [
    ...Array.from({ length: 11 }, (_, i) => infer('simple', simpleJson(i))),
    ...Array.from({ length: 3 }, (_, i) => infer('iris', irisJson(i))),
    binaryInfer,
    binaryInfer,
    get('/v1/models/simple'),
    get('/v1/models/iris'),
    get('/v2/models/iris'),
    get(`/v1/batch-jobs/${jobId}`),
  ];
}

/**
 * Every request drawn from the mix at random (seeded, so runs repeat). Given the mix as a list,
 * autocannon walks it in order on every connection, and connections opened together stay in step:
 * each read of the mix arrived as a burst of one request per connection, which no population of
 * clients sends and which made a function scale out on every pass.
 */
function mixed(mix: readonly Request[]): Request {
  let draws = 0;
  return {
    setupRequest: (request: Request) => ({ ...request, ...mix[Math.floor(unitOf(7, draws++) * mix.length)] }),
  };
}

/** Forces full collections; `--expose-gc` when given, else exposed at run time. */
function collector(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function settledHeap(gc: () => void): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    gc();
    samples.push(process.memoryUsage().heapUsed);
  }
  return Math.min(...samples);
}

function figuresOf(result: autocannon.Result, tier: string, allowed: readonly number[]): PrincipalFigures {
  const statuses: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(
    (result as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats ?? {},
  )) {
    statuses[code] = count;
  }
  const noAnswer = result.errors + result.timeouts;
  const refused = Object.entries(statuses)
    .filter(([code]) => !allowed.includes(Number(code)))
    .reduce((sum, [, count]) => sum + count, 0);
  return {
    tier,
    requests: result.requests.total,
    statuses,
    noAnswer,
    errors: noAnswer + refused,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
  };
}

const ALL_2XX = [200, 201, 202, 204];

export async function runLoad(options: LoadOptions = {}): Promise<LoadResults> {
  const durationSeconds = options.durationSeconds ?? 60;
  const rate = options.rate ?? 40;
  const limitedRate = options.limitedRate ?? 5;
  const warmUpSeconds = options.warmUpSeconds ?? 10;
  const maxHeapRatio = options.maxHeapRatio ?? 1.2;
  const log = options.log ?? ((line: string) => console.log(line));
  process.env.LOG_LEVEL ??= 'ERROR';
  const gc = collector();

  const platform = await startLocalPlatform({ apiPort: 0, tritonPort: 0, consolePort: 0 });
  try {
    const [steady, limited] = await Promise.all([
      platformToken({ sub: 'load-premium', tier: 'premium' }),
      platformToken({ sub: 'load-trial', tier: 'trial' }),
    ]);
    const submitted = await fetch(`${platform.apiUrl}/v1/batch-jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${steady}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'iris',
        items: Array.from({ length: 20 }, (_, i) => JSON.parse(irisJson(i)) as object),
      }),
    });
    if (submitted.status !== 202)
      throw new Error(`batch submission: ${submitted.status} ${await submitted.text()}`);
    const { jobId } = (await submitted.json()) as { jobId: string };

    const attack = (seconds: number) =>
      Promise.all([
        autocannon({
          url: platform.apiUrl,
          connections: options.connections ?? 16,
          overallRate: rate,
          duration: seconds,
          timeout: 30,
          requests: [mixed(trafficMix(`Bearer ${steady}`, jobId))],
        }),
        autocannon({
          url: platform.apiUrl,
          connections: 1,
          overallRate: limitedRate,
          duration: seconds,
          timeout: 30,
          requests: [
            {
              method: 'POST',
              path: '/v2/models/simple/infer',
              headers: { authorization: `Bearer ${limited}`, 'content-type': 'application/json' },
              body: simpleJson(0),
            },
          ],
        }),
      ]);

    log(`warming up for ${warmUpSeconds} s at ${rate} + ${limitedRate} requests/s`);
    await attack(warmUpSeconds);
    const beforeBytes = await settledHeap(gc);
    log(`heap before: ${mb(beforeBytes)}; loading for ${durationSeconds} s`);
    const initsBefore = new Map(platform.functions.map((fn) => [fn.name, fn.inits]));
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const [steadyResult, limitedResult] = await attack(durationSeconds);
    delay.disable();
    const coldStarts = Object.fromEntries(
      platform.functions.flatMap((fn) => {
        const before = initsBefore.get(fn.name) ?? { count: 0, totalMs: 0 };
        const count = fn.inits.count - before.count;
        if (count === 0) return [];
        return [[fn.name, { count, meanMs: Math.round((fn.inits.totalMs - before.totalMs) / count) }]];
      }),
    );
    const eventLoopDelayMs = {
      p50: Math.round(delay.percentile(50) / 1e6),
      p99: Math.round(delay.percentile(99) / 1e6),
      max: Math.round(delay.max / 1e6),
    };
    const afterBytes = await settledHeap(gc);

    const withinTier = figuresOf(steadyResult, 'premium', ALL_2XX);
    const limitedFigures = figuresOf(limitedResult, 'trial', [...ALL_2XX, 429]);
    const ratio = Math.round((afterBytes / beforeBytes) * 1000) / 1000;
    const targets = {
      noErrors: withinTier.errors === 0 && limitedFigures.errors === 0,
      limitedPrincipalRefused: (limitedFigures.statuses['429'] ?? 0) > 0,
      heapWithinRatio: ratio <= maxHeapRatio,
      maxHeapRatio,
    };
    const results: LoadResults = {
      generatedAt: new Date().toISOString(),
      durationSeconds,
      rate,
      limitedRate,
      withinTier,
      limited: limitedFigures,
      heap: { beforeBytes, afterBytes, ratio },
      coldStarts,
      eventLoopDelayMs,
      targets,
      passed: targets.noErrors && targets.limitedPrincipalRefused && targets.heapWithinRatio,
    };
    for (const [name, f] of [
      ['within tier', withinTier],
      ['past limit ', limitedFigures],
    ] as const) {
      log(
        `${name} (${f.tier}): ${f.requests} requests, statuses ${JSON.stringify(f.statuses)}, ` +
          `no answer ${f.noAnswer}, errors ${f.errors}, latency p50 ${f.latencyMs.p50} ms, ` +
          `p90 ${f.latencyMs.p90} ms, p99 ${f.latencyMs.p99} ms`,
      );
    }
    const starts = Object.entries(coldStarts).map(([name, c]) => `${name} ${c.count} (mean ${c.meanMs} ms)`);
    log(`cold starts while loading: ${starts.length > 0 ? starts.join(', ') : 'none'}`);
    log(
      `event loop of the platform's process held up: p50 ${eventLoopDelayMs.p50} ms, ` +
        `p99 ${eventLoopDelayMs.p99} ms, max ${eventLoopDelayMs.max} ms`,
    );
    log(`heap: ${mb(beforeBytes)} before, ${mb(afterBytes)} after, ratio ${ratio} (at most ${maxHeapRatio})`);
    log(results.passed ? 'load targets met' : `load targets missed: ${JSON.stringify(targets)}`);
    if (options.resultsFile) writeFileSync(options.resultsFile, `${JSON.stringify(results, null, 2)}\n`);
    return results;
  } finally {
    await platform.close();
  }
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const results = await runLoad({
    durationSeconds: Number(process.env.LOAD_DURATION ?? 60),
    rate: Number(process.env.LOAD_RATE ?? 40),
    resultsFile: fileURLToPath(new URL('./load-results.json', import.meta.url)),
  });
  process.exit(results.passed ? 0 : 1);
}
