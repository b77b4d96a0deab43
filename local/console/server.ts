import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { FunctionOutputBus } from '../aws/function-output';
import { listenOnLoopback } from '../loopback';
import type { MultiModelMetrics } from '../model-server/multi-model-metrics';
import { requestUrl } from '../request-target';
import { listJobs, listModels } from './console-data';
import { MetricFeed, type MetricFeedOptions } from './metric-feed';

export interface ConsoleOptions {
  /** 0 picks a free port. @default 3001 */
  readonly port?: number;
  /** The local DynamoDB (dynalite) holding the registry and batch tables. */
  readonly dynamodbUrl: string;
  readonly registryTable: string;
  readonly batchTable: string;
  /** Every stdout line of every handler; the EMF ones feed the traffic charts. */
  readonly output: Pick<FunctionOutputBus, 'subscribe'>;
  readonly metrics?: MetricFeedOptions;
  /** The model server's multi-model endpoint metrics (`AWS/SageMaker`). */
  readonly multiModelMetrics?: Pick<MultiModelMetrics, 'summary'>;
}

export interface ConsoleServer {
  readonly url: string;
  readonly feed: MetricFeed;
  close(): Promise<void>;
}

const PAGE = new URL('./index.html', import.meta.url);
const DEFAULT_JOBS = 50;
const MAX_JOBS = 500;

/**
 * The local console: one HTML page and the JSON it polls. A developer tool on 127.0.0.1, so it
 * reads the emulated tables directly and shows every owner's jobs, with no token.
 */
export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const page = readFileSync(PAGE);
  const feed = new MetricFeed(options.metrics);
  const detach = feed.attach(options.output);
  const dynamodb = new DynamoDBClient({
    endpoint: options.dynamodbUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    const url = requestUrl(req.url);
    if (!url) {
      json(res, 400, { error: 'the request target is not a URL' });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: 'method not allowed' });
      return;
    }
    const answer = async () => {
      switch (url.pathname) {
        case '/':
        case '/index.html':
          res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
          res.end(page);
          return;
        case '/api/models':
          json(res, 200, { models: await listModels(dynamodb, options.registryTable) });
          return;
        case '/api/batch-jobs': {
          const asked = Number(url.searchParams.get('limit') ?? DEFAULT_JOBS);
          const limit = Number.isInteger(asked) && asked > 0 ? Math.min(asked, MAX_JOBS) : DEFAULT_JOBS;
          json(res, 200, { jobs: await listJobs(dynamodb, options.batchTable, limit) });
          return;
        }
        case '/api/metrics':
          json(res, 200, feed.series());
          return;
        case '/api/endpoint-metrics':
          json(res, 200, options.multiModelMetrics?.summary() ?? { variants: [] });
          return;
        default:
          json(res, 404, { error: `no route ${url.pathname}` });
      }
    };
    answer().catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { error: error instanceof Error ? error.message : String(error) });
      else res.destroy();
    });
  });

  const { url } = await listenOnLoopback(server, options.port ?? 3001);
  return {
    url,
    feed,
    close: () =>
      new Promise<void>((resolve) => {
        detach();
        dynamodb.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
