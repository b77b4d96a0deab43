import { InvokeEndpointCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceResponse } from '../../functions/inference/protocol';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { loadModelRepository } from '../../triton-image/model-repository';
import { localSageMaker } from '../helpers/local-clients';
import { type TempRepository, tempRepository, withDynamicBatching } from '../helpers/temp-repository';

// `simple` (max_batch_size 8) three ways. The queue delay of BATCHED is long enough that requests
// sent together always meet in the queue; a full batch of 8 rows still leaves at once.
const BATCHED = 'simple_batched';
const UNBATCHED = 'simple_unbatched';
const ENDPOINT = 'batching-endpoint';

interface ModelStats {
  name: string;
  version: string;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<'success' | 'fail' | 'queue' | 'compute_infer', { count: number; ns: number }>;
  batch_stats: { batch_size: number; compute_infer: { count: number; ns: number } }[];
}

/** A request of `rows` rows whose values are unique to `id`, so each answer can be traced to its request. */
function distinctRequest(id: number, rows: number) {
  const input0 = Array.from({ length: rows * 16 }, (_, i) => id * 1000 + i);
  const input1 = Array.from({ length: rows * 16 }, (_, i) => id * 7 - i);
  return {
    body: {
      id: `request-${id}`,
      inputs: [
        { name: 'INPUT0', shape: [rows, 16], datatype: 'INT32', data: input0 },
        { name: 'INPUT1', shape: [rows, 16], datatype: 'INT32', data: input1 },
      ],
    },
    sum: input0.map((a, i) => a + input1[i]!),
    difference: input0.map((a, i) => a - input1[i]!),
  };
}

describe('model server dynamic batching', () => {
  let repository: TempRepository;
  let server: ModelServer;
  let sagemaker: SageMakerRuntimeClient;

  beforeAll(async () => {
    repository = await tempRepository();
    await repository.copyShipped('simple', BATCHED, (config) =>
      withDynamicBatching(config, 'dynamic_batching { max_queue_delay_microseconds: 500000 }'),
    );
    await repository.copyShipped('simple', UNBATCHED, (config) => withDynamicBatching(config, ''));
    server = await startModelServer({
      models: await loadModelRepository(repository.dir),
      endpoints: { [ENDPOINT]: { defaultModel: BATCHED } },
    });
    sagemaker = localSageMaker(server.url);
  });

  afterAll(async () => {
    sagemaker?.destroy();
    await server?.close();
    await repository?.remove();
  });

  const infer = async (model: string, body: unknown) => {
    const response = await fetch(`${server.url}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as InferenceResponse;
  };

  const stats = async (model: string): Promise<ModelStats> => {
    const response = await fetch(`${server.url}/v2/models/${model}/stats`);
    const { model_stats } = (await response.json()) as { model_stats: ModelStats[] };
    return model_stats[0]!;
  };

  /** Sends the requests at once and checks that each gets exactly its own rows back. */
  const sendTogether = async (model: string, rowsPerRequest: number[]) => {
    const requests = rowsPerRequest.map((rows, id) => ({ rows, ...distinctRequest(id, rows) }));
    const answers = await Promise.all(requests.map((r) => infer(model, r.body)));
    answers.forEach((answer, i) => {
      const { rows, sum, difference, body } = requests[i]!;
      expect(answer.id).toBe(body.id);
      expect(answer.outputs).toEqual([
        { name: 'OUTPUT0', datatype: 'INT32', shape: [rows, 16], data: sum },
        { name: 'OUTPUT1', datatype: 'INT32', shape: [rows, 16], data: difference },
      ]);
    });
  };

  it('merges concurrent requests into fewer executions, each request getting its own rows', async () => {
    const before = await stats(BATCHED);

    await sendTogether(BATCHED, [1, 1, 1, 1, 1, 1, 1, 1]);

    const after = await stats(BATCHED);
    expect(after.inference_count - before.inference_count).toBe(8);
    expect(after.execution_count - before.execution_count).toBeLessThan(8);
  });

  it('batches requests of different sizes without exceeding max_batch_size or splitting a request', async () => {
    const before = await stats(BATCHED);

    await sendTogether(BATCHED, [3, 1, 2, 4, 1, 2, 3, 2, 1, 5]);

    const after = await stats(BATCHED);
    expect(after.inference_count - before.inference_count).toBe(24);
    expect(after.execution_count - before.execution_count).toBeLessThan(10);
    expect(Math.max(...after.batch_stats.map((b) => b.batch_size))).toBeLessThanOrEqual(8);
  });

  it('batches requests that arrive through SageMaker InvokeEndpoint', async () => {
    const before = await stats(BATCHED);
    const requests = [2, 1, 3, 2].map((rows, id) => distinctRequest(100 + id, rows));

    const answers = await Promise.all(
      requests.map(async ({ body }) => {
        const response = await sagemaker.send(
          new InvokeEndpointCommand({
            EndpointName: ENDPOINT,
            ContentType: 'application/json',
            Body: JSON.stringify(body),
          }),
        );
        return JSON.parse(new TextDecoder().decode(response.Body)) as InferenceResponse;
      }),
    );

    answers.forEach((answer, i) => {
      expect(answer.outputs[0]!.data).toEqual(requests[i]!.sum);
      expect(answer.outputs[1]!.data).toEqual(requests[i]!.difference);
    });
    const after = await stats(BATCHED);
    expect(after.execution_count - before.execution_count).toBeLessThan(4);
  });

  it('never merges requests of a model without dynamic_batching', async () => {
    const before = await stats(UNBATCHED);

    await sendTogether(UNBATCHED, [1, 2, 1, 3, 1, 1, 2, 1]);

    const after = await stats(UNBATCHED);
    expect(after.execution_count - before.execution_count).toBe(8);
    expect(after.batch_stats.map((b) => b.batch_size)).toEqual([1, 2, 3]);
  });

  it("reports Triton's statistics for every model at /v2/models/stats", async () => {
    const response = await fetch(`${server.url}/v2/models/stats`);
    const { model_stats } = (await response.json()) as { model_stats: ModelStats[] };

    expect(model_stats.map((m) => [m.name, m.version])).toEqual([
      [BATCHED, '1'],
      [UNBATCHED, '1'],
    ]);
    const batched = model_stats[0]!;
    expect(batched.inference_stats.success.count).toBeGreaterThan(0);
    expect(batched.inference_stats.fail.count).toBe(0);
    expect(batched.batch_stats.reduce((sum, b) => sum + b.compute_infer.count, 0)).toBe(
      batched.execution_count,
    );
  });
});
