/**
 * The built inference bundle in its own process (`bench/warm-request-process.ts`), as a warm Lambda
 * container, against the local platform's DynamoDB (through a counting proxy) and model server: CPU
 * per request and DynamoDB calls per request once caches are warm. Needs the bundles figure first.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { METRICS_NAMESPACE, SERVICE_NAMES } from '../../contracts/metric-catalog';
import { circuitSettingsOf } from '../../lib/config';
import { LOCAL_TABLE_ENVIRONMENT, readLocalConfig } from '../../local/platform';
import { startPlatformProcess } from '../../local/platform-process';
import { bundlePath } from './bundles';
import { ROOT, round } from './measure';

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
 * Lambda's X-Ray sampling as the runtime hands it to a function: the trace header of each invocation
 * in `_X_AMZN_TRACE_ID`, `Sampled=1` on about one in twenty (the default rule: the first request each
 * second, then 5 %; https://docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html).
 */
const SAMPLED_EVERY = 20;

interface Measured {
  cpuMsPerRequest: number;
  startedAt: number;
  endedAt: number;
  requests: number;
}

/** Collects the UDP segment documents the X-Ray SDK sends to its daemon, to show traces were made. */
async function segmentSink() {
  const socket = createSocket('udp4');
  let received = 0;
  socket.on('message', () => received++);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    received: () => received,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/**
 * Warm requests twice: with tracing as deployed (Lambda's active tracing: the X-Ray SDK loaded, a
 * trace header per invocation, one in twenty sampled and sent to a daemon address on 127.0.0.1) and
 * with Powertools tracing switched off, as the local platform runs. The first is the target figure.
 */
export async function measureWarmRequest() {
  const platform = await startPlatformProcess({ LOG_LEVEL: 'ERROR' });
  const proxy = await countingProxy(platform.dynamodbUrl);
  const sink = await segmentSink();
  const environment = {
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
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  // What Lambda sets for a function with active tracing (Powertools traces only where
  // AWS_EXECUTION_ENV is set; the X-Ray SDK takes Lambda's trace header where LAMBDA_TASK_ROOT is).
  const deployedTracing = {
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    LAMBDA_TASK_ROOT: dirname(bundlePath('inference')),
    AWS_LAMBDA_FUNCTION_NAME: 'inference',
    AWS_XRAY_DAEMON_ADDRESS: sink.address,
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
    BENCH_TRACE_SAMPLED_EVERY: String(SAMPLED_EVERY),
  };
  // Asynchronous: the counting proxy and the sink live in this process and must keep answering.
  const run = async (extra: Record<string, string>): Promise<Measured> => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', `${ROOT}bench/warm-request-process.ts`, bundlePath('inference'), '1000'],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...environment, ...extra } },
    );
    // The last line is the measurement; the lines before it are the handler's EMF metrics.
    return JSON.parse(stdout.trim().split('\n').pop()!) as Measured;
  };
  try {
    const traced = await run(deployedTracing);
    if (sink.received() === 0)
      throw new Error('the traced warm requests sent no segment to the daemon address');
    const untraced = await run({ POWERTOOLS_TRACE_ENABLED: 'false' });
    return {
      requests: traced.requests,
      cpuMsPerRequest: round(traced.cpuMsPerRequest),
      tracingOffCpuMsPerRequest: round(untraced.cpuMsPerRequest),
      sampledSegmentDocuments: sink.received(),
      dynamoDbCallsPerRequest: round(proxy.between(traced.startedAt, traced.endedAt) / traced.requests),
    };
  } finally {
    await sink.close();
    await proxy.close();
    await platform.stop();
  }
}

export type WarmRequestFigures = Awaited<ReturnType<typeof measureWarmRequest>>;

export function printWarmRequest(figures: WarmRequestFigures): void {
  console.log(
    '\nWarm realtime request in the inference bundle (%d sequential requests): %d ms CPU with tracing as deployed (%d ms with tracing off), %d DynamoDB calls each',
    figures.requests,
    figures.cpuMsPerRequest,
    figures.tracingOffCpuMsPerRequest,
    figures.dynamoDbCallsPerRequest,
  );
}
