/**
 * What one InvokeEndpoint costs the caller's CPU: the bench MLP's batched request (16 rows of 512
 * FP32, as the batch worker sends it) through the platform's own call (`invokeBackend`, the SDK
 * client configured as the functions configure it), and the same bytes through Node's HTTP client
 * alone, against a server in a process of its own that answers at once. The difference is the SDK's
 * share (middleware, serialization, signing). With the dataset figures it bounds their `overModel`
 * on this machine, where the path's calls share the model's cores.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { sageMakerBinaryRequest } from '../../functions/inference/binary-tensors';
import { invokeBackend } from '../../functions/inference/sagemaker-backend';
import { BENCH_INPUT, BENCH_LAYERS, BENCH_MAX_BATCH_SIZE } from '../bench-model';
import { round } from './measure';

const WARM_CALLS = 300;
const CALLS = 2_000;
/** As a batch chunk sends them (CHUNK_REQUESTS_AT_ONCE). */
const AT_ONCE = 4;

/** Drains each request and answers the bench MLP's outputs for a batch, as JSON. */
const SERVER = `
const answer = Buffer.from(JSON.stringify({ model_name: 'bench', model_version: '1', outputs: [{
  name: 'OUTPUT', datatype: 'FP32', shape: [${BENCH_MAX_BATCH_SIZE}, ${BENCH_LAYERS.at(-1)}],
  data: Array.from({ length: ${BENCH_MAX_BATCH_SIZE * BENCH_LAYERS.at(-1)!} }, (_, i) => i / 7) }] }));
require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(answer); });
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
`;

export interface SdkCallFigures {
  /** CPU (user + system) of the calling process per call: the SDK's InvokeEndpoint, and HTTP alone. */
  readonly sdkCpuMicrosPerCall: number;
  readonly httpCpuMicrosPerCall: number;
  readonly requestBytes: number;
  readonly calls: number;
}

export async function measureSdkCall(): Promise<SdkCallFigures> {
  const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.stdout.once('data', (line: Buffer) => resolve(Number(line.toString().trim())));
      server.once('exit', (code) => reject(new Error(`the answering server exited (${code})`)));
    });
    const rows = BENCH_MAX_BATCH_SIZE;
    const payload = sageMakerBinaryRequest([
      {
        name: BENCH_INPUT,
        shape: [rows, BENCH_LAYERS[0]],
        datatype: 'FP32',
        data: Array.from({ length: rows * BENCH_LAYERS[0] }, (_, i) => (i % 997) / 997),
      },
    ])!;
    const client = new SageMakerRuntimeClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
      maxAttempts: 1,
      requestHandler: { requestTimeout: 25_000, connectionTimeout: 2_000 },
    });
    const backend = { endpointName: 'bench', targetModel: 'bench.tar.gz', weight: 100 };
    const sdkCall = () => invokeBackend(client, backend, payload, AbortSignal.timeout(25_000));

    const agent = new Agent({ keepAlive: true });
    const httpCall = () =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/endpoints/bench/invocations',
            agent,
            headers: { 'Content-Type': payload.contentType, 'Content-Length': payload.body.length },
          },
          (res) => {
            res.on('data', () => {});
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        req.end(payload.body);
      });

    const sdkCpuMicrosPerCall = await cpuPerCall(sdkCall);
    const httpCpuMicrosPerCall = await cpuPerCall(httpCall);
    client.destroy();
    agent.destroy();
    return { sdkCpuMicrosPerCall, httpCpuMicrosPerCall, requestBytes: payload.body.length, calls: CALLS };
  } finally {
    server.kill();
  }
}

async function cpuPerCall(call: () => Promise<unknown>): Promise<number> {
  const rounds = async (calls: number) => {
    for (let i = 0; i < calls; i += AT_ONCE) await Promise.all(Array.from({ length: AT_ONCE }, call));
  };
  await rounds(WARM_CALLS);
  const before = process.cpuUsage();
  await rounds(CALLS);
  const used = process.cpuUsage(before);
  return round((used.user + used.system) / CALLS);
}

/**
 * The highest `overModel` a dataset job could reach on this machine if its only costs beside the
 * model were parsing its lines and the client side of its InvokeEndpoint calls, all on the model's
 * cores: the model's CPU per item over that plus theirs (`cpuMsPer1000Items.{model,lineParse}`,
 * `requestsPer1000Items.sagemaker` calls of `sdkCpuMicrosPerCall` each).
 */
export function overModelCeiling(
  sdkCall: SdkCallFigures,
  dataset: {
    cpuMsPer1000Items: { model: number; lineParse: number };
    requestsPer1000Items: { sagemaker: number };
  },
): number {
  const { model, lineParse } = dataset.cpuMsPer1000Items;
  const calls = (dataset.requestsPer1000Items.sagemaker * sdkCall.sdkCpuMicrosPerCall) / 1000;
  return round(model / (model + lineParse + calls));
}

export function printSdkCall(figures: SdkCallFigures, ceilings: { iris: number; mlp: number }): void {
  console.log(
    `\nOne InvokeEndpoint of ${figures.requestBytes} bytes, the caller's CPU (${figures.calls} calls, ${AT_ONCE} at once)`,
  );
  console.table({
    'through the SDK (invokeBackend)': { cpuMicrosPerCall: figures.sdkCpuMicrosPerCall },
    'through node:http alone': { cpuMicrosPerCall: figures.httpCpuMicrosPerCall },
  });
  console.log(
    `overModel ceiling with those calls and the lines' parse alone on the model's cores: iris ${ceilings.iris}, MLP ${ceilings.mlp}`,
  );
}
