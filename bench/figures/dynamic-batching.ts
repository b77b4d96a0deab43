/**
 * The bench MLP (`bench/bench-model.ts`) served with and without `dynamic_batching`, each in a model
 * server of its own child process (`bench/model-server-process.ts`), under single-row requests.
 */
import {
  BENCH_INPUT,
  BENCH_LAYERS,
  BENCH_MAX_BATCH_SIZE,
  BENCH_MODEL_NAME,
  BENCH_OUTPUT,
  BENCH_QUEUE_DELAY_MICROSECONDS,
  writeBenchRepositories,
} from '../bench-model';
import { DURATION_SECONDS, load, OUT_DIR, round, startModelServerProcess } from './measure';

const BATCHING_CONNECTIONS = 32;
const WARM_UP_SECONDS = 2;

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

export async function measureDynamicBatching() {
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

export type DynamicBatchingFigures = Awaited<ReturnType<typeof measureDynamicBatching>>;

export const dynamicBatchingErrors = (figures: DynamicBatchingFigures) =>
  figures.unbatched.errors + figures.batched.errors;

export function printDynamicBatching(figures: DynamicBatchingFigures): void {
  console.log(
    '\nDynamic batching: %s, one row per request (%d connections, %d s each)',
    figures.model,
    BATCHING_CONNECTIONS,
    DURATION_SECONDS,
  );
  console.table({
    'without dynamic_batching': figures.unbatched,
    [`dynamic_batching (max ${BENCH_MAX_BATCH_SIZE}, ${BENCH_QUEUE_DELAY_MICROSECONDS} us)`]: figures.batched,
  });
  console.log('Throughput with dynamic batching: %dx', figures.throughputRatio);
}
