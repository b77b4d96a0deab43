/**
 * The local platform's control API, for faults the model server cannot inject: Lambda recycling
 * every container, DynamoDB throttling below the SDK, and a function's container crashing
 * mid-invocation (see sdk-faults.ts). Local only, on its own port, so no emulated API changes.
 *
 * | request                        | effect                                                    |
 * | ------------------------------ | --------------------------------------------------------- |
 * | `POST /local/recycle`          | drops every function container (recycleFunctions)        |
 * | `PUT /local/faults/dynamodb`   | `{"throttleRate": 0.25, "operations"?: ["UpdateItem"]}`   |
 * | `PUT /local/faults/crash`      | `{"function": "batch-worker", "afterSageMakerCalls"?: 1}` |
 * | `DELETE /local/faults/{kind}`  | removes that plan; `DELETE /local/faults` removes both    |
 * | `GET /local/faults`            | `{"plan": {...}, "stats": {...}}`                         |
 *
 * `stats` holds the fault counters, the SDK requests by service, `peakMemoryBytes` by function, and
 * `peakRssBytes`: the platform process's peak resident set (getrusage's ru_maxrss, Linux's VmHWM),
 * which every emulator and container shares, and `cpuMicros`: the CPU time the process has used, all
 * its threads together (user and system).
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type * as z from 'zod';
import { listenOnLoopback } from '../loopback';
import { requestUrl } from '../request-target';
import { crashFaultSchema, dynamoDbFaultSchema, type SdkFaults } from './sdk-faults';

export interface PlatformControlOptions {
  readonly faults: SdkFaults;
  /** The functions a crash plan may name: the names their containers run under. */
  readonly functions: readonly string[];
  /** Each function's peak container memory in bytes (`LambdaFunction.peakMemoryBytes`). */
  readonly memory?: () => Record<string, number>;
  readonly recycle: () => Promise<void>;
  /** @default 0 (a free port) */
  readonly port?: number;
}

export interface PlatformControl {
  readonly url: string;
  close(): Promise<void>;
}

const BODY_LIMIT = 64 * 1024;

export async function startPlatformControl(options: PlatformControlOptions): Promise<PlatformControl> {
  const { faults } = options;
  const state = () => ({
    plan: faults.plan,
    stats: {
      ...faults.stats(),
      peakMemoryBytes: options.memory?.() ?? {},
      // ru_maxrss is in KiB on Linux (getrusage(2)).
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      cpuMicros: cpuMicros(),
    },
  });
  const server = createServer((req, res) => {
    void route(req, options, state).then(
      ([status, body]) => reply(res, status, body),
      (error: unknown) => reply(res, 500, { error: (error as Error).message }),
    );
  });
  const { url } = await listenOnLoopback(server, options.port ?? 0);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function route(
  req: IncomingMessage,
  options: PlatformControlOptions,
  state: () => unknown,
): Promise<[number, unknown]> {
  const { faults } = options;
  const url = requestUrl(req.url);
  if (!url) return [400, { error: 'the request target is not a URL' }];
  const path = url.pathname;
  const key = `${req.method} ${path}`;
  switch (key) {
    case 'POST /local/recycle':
      await options.recycle();
      return [200, { recycled: true }];
    case 'GET /local/faults':
      return [200, state()];
    case 'DELETE /local/faults':
      faults.clear();
      return [200, state()];
    case 'DELETE /local/faults/dynamodb':
    case 'DELETE /local/faults/crash':
      faults.set({ [path.slice('/local/faults/'.length)]: undefined });
      return [200, state()];
    case 'PUT /local/faults/dynamodb':
    case 'PUT /local/faults/crash': {
      const kind = path.slice('/local/faults/'.length) as 'dynamodb' | 'crash';
      const schema: z.ZodType = kind === 'dynamodb' ? dynamoDbFaultSchema : crashFaultSchema;
      const parsed = schema.safeParse(await readJson(req));
      if (!parsed.success) {
        // One line naming the field, as the model server's fault route answers.
        const issue = parsed.error.issues[0];
        const field = issue?.path.join('.') || 'body';
        return [400, { error: `invalid ${kind} fault '${field}': ${issue?.message ?? 'invalid'}` }];
      }
      // A plan naming no function would never fire, and the test relying on it would pass unhurt.
      const named = (parsed.data as { function?: string }).function;
      if (named !== undefined && !options.functions.includes(named)) {
        return [
          400,
          {
            error: `invalid crash fault 'function': no function '${named}'; one of ${options.functions.join(', ')}`,
          },
        ];
      }
      faults.set({ [kind]: parsed.data });
      return [200, state()];
    }
    default:
      return [404, { error: `no control route ${key}` }];
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** CPU time this process has used, every thread included. */
export function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
