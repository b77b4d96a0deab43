/**
 * The built inference bundle in its own process (`bench/warm-request-process.ts`), as a warm Lambda
 * container, against the local platform's DynamoDB (through a counting proxy) and model server: CPU
 * per request and DynamoDB calls per request once caches are warm. Needs the bundles figure first.
 */
import { execFile } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
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

export async function measureWarmRequest() {
  const platform = await startPlatformProcess({ LOG_LEVEL: 'ERROR' });
  const proxy = await countingProxy(platform.dynamodbUrl);
  try {
    // Asynchronous: the counting proxy lives in this process and must keep answering.
    const { stdout: output } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', `${ROOT}bench/warm-request-process.ts`, bundlePath('inference'), '1000'],
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

export type WarmRequestFigures = Awaited<ReturnType<typeof measureWarmRequest>>;

export function printWarmRequest(figures: WarmRequestFigures): void {
  console.log(
    '\nWarm realtime request in the inference bundle (%d sequential requests): %d ms CPU, %d DynamoDB calls each',
    figures.requests,
    figures.cpuMsPerRequest,
    figures.dynamoDbCallsPerRequest,
  );
}
