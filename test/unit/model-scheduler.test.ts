import { afterEach, describe, expect, it, vi } from 'vitest';
import { type BatchingPolicy, InstanceScheduler, type ModelRunner } from '../../local/model-server/scheduler';
import type { Tensor } from '../../local/model-server/tensors';

/** A one-input request of `rows` rows of `width` INT32 values, each row filled with `value + row`. */
function request(rows: number, value: number, width = 2): Tensor[] {
  const data = Int32Array.from({ length: rows * width }, (_, i) => value + Math.floor(i / width));
  return [{ name: 'X', datatype: 'INT32', shape: [rows, width], data }];
}

/** A model that doubles X into Y and records the batch size of every execution. */
function doublingModel() {
  const batches: number[] = [];
  const run: ModelRunner = async ([x]) => {
    batches.push(x!.shape[0]!);
    return [
      { name: 'Y', datatype: 'INT32', shape: [...x!.shape], data: (x!.data as Int32Array).map((v) => 2 * v) },
    ];
  };
  return { run, batches };
}

/** A model whose executions finish only when the test says so. */
function manualModel() {
  const started: { rows: number; finish(): void; fail(error: Error): void }[] = [];
  const run: ModelRunner = ([x]) =>
    new Promise((resolve, reject) => {
      started.push({
        rows: x!.shape[0]!,
        finish: () => resolve([{ name: 'Y', datatype: 'INT32', shape: [...x!.shape], data: x!.data }]),
        fail: reject,
      });
    });
  return { run, started };
}

const NEVER = 3_600_000_000; // an hour in microseconds: a test never waits for it
const policy = (changes: Partial<BatchingPolicy> = {}): BatchingPolicy => ({
  maxBatchSize: 4,
  preferredBatchSizes: [],
  maxQueueDelayMicroseconds: NEVER,
  ...changes,
});

const rowsOf = (outputs: Tensor[]) => Array.from(outputs[0]!.data as Int32Array);

describe('InstanceScheduler with dynamic batching', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('merges requests into one execution once their rows reach max_batch_size, and gives each its own rows', async () => {
    const model = doublingModel();
    const scheduler = new InstanceScheduler(model.run, true, policy());

    const answers = await Promise.all([
      scheduler.submit(request(1, 10)),
      scheduler.submit(request(2, 20)),
      scheduler.submit(request(1, 30)),
    ]);

    expect(model.batches).toEqual([4]);
    expect(answers.map(rowsOf)).toEqual([
      [20, 20],
      [40, 40, 42, 42],
      [60, 60],
    ]);
    expect(answers.map((a) => a[0]!.shape)).toEqual([
      [1, 2],
      [2, 2],
      [1, 2],
    ]);
  });

  it('never splits a request: one that does not fit in the batch goes into the next', async () => {
    const model = doublingModel();
    const scheduler = new InstanceScheduler(model.run, true, policy());

    const answers = await Promise.all([
      scheduler.submit(request(3, 1)),
      scheduler.submit(request(2, 5)),
      scheduler.submit(request(2, 9)),
    ]);

    expect(model.batches).toEqual([3, 4]);
    expect(answers.map(rowsOf)).toEqual([
      [2, 2, 4, 4, 6, 6],
      [10, 10, 12, 12],
      [18, 18, 20, 20],
    ]);
  });

  it('sends a preferred batch size without waiting for max_batch_size', async () => {
    const model = doublingModel();
    const scheduler = new InstanceScheduler(
      model.run,
      true,
      policy({ maxBatchSize: 8, preferredBatchSizes: [2] }),
    );

    await Promise.all([scheduler.submit(request(1, 1)), scheduler.submit(request(1, 2))]);

    expect(model.batches).toEqual([2]);
  });

  it('does not merge requests whose non-batch dimensions differ', async () => {
    const model = doublingModel();
    const scheduler = new InstanceScheduler(model.run, true, policy({ maxBatchSize: 2 }));

    const answers = await Promise.all([
      scheduler.submit(request(1, 1, 3)),
      scheduler.submit(request(1, 2, 5)),
      scheduler.submit(request(1, 3, 5)),
    ]);

    expect(model.batches).toEqual([1, 2]);
    expect(answers.map((a) => a[0]!.shape)).toEqual([
      [1, 3],
      [1, 5],
      [1, 5],
    ]);
  });

  it('waits up to max_queue_delay_microseconds for a batch to fill, then sends what is queued', async () => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance'],
    });
    const model = doublingModel();
    const scheduler = new InstanceScheduler(model.run, true, policy({ maxQueueDelayMicroseconds: 5000 }));

    const answer = scheduler.submit(request(1, 4));
    await vi.advanceTimersByTimeAsync(4);
    const batchesBeforeTheDelay = [...model.batches];
    await vi.advanceTimersByTimeAsync(2);

    expect(batchesBeforeTheDelay).toEqual([]);
    expect(model.batches).toEqual([1]);
    expect(rowsOf(await answer)).toEqual([8, 8]);
  });

  it('runs one execution at a time and batches what queued up meanwhile', async () => {
    const model = manualModel();
    const scheduler = new InstanceScheduler(model.run, true, policy({ maxQueueDelayMicroseconds: 0 }));

    const first = scheduler.submit(request(1, 1));
    const queued = [scheduler.submit(request(1, 2)), scheduler.submit(request(2, 3))];
    const startedWhileBusy = model.started.length;
    model.started[0]!.finish();
    await first;
    await vi.waitFor(() => expect(model.started).toHaveLength(2));
    model.started[1]!.finish();
    await Promise.all(queued);

    expect(startedWhileBusy).toBe(1);
    expect(model.started.map((s) => s.rows)).toEqual([1, 3]);
  });

  it('fails every request of a failed execution, and runs the next batch', async () => {
    const model = manualModel();
    const scheduler = new InstanceScheduler(model.run, true, policy({ maxBatchSize: 2 }));

    const failed = [scheduler.submit(request(1, 1)), scheduler.submit(request(1, 2))];
    const later = scheduler.submit(request(2, 3));
    model.started[0]!.fail(new Error('out of memory'));
    const outcomes = await Promise.allSettled(failed);
    await vi.waitFor(() => expect(model.started).toHaveLength(2));
    model.started[1]!.finish();

    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'ok'))).toEqual([
      'out of memory',
      'out of memory',
    ]);
    expect(rowsOf(await later)).toEqual([3, 3, 4, 4]);
    expect(scheduler.stats.fail.count).toBe(2);
    expect(scheduler.stats.success.count).toBe(1);
  });

  it('fails a batch whose outputs do not keep the batch dimension', async () => {
    const run: ModelRunner = async () => [
      { name: 'Y', datatype: 'INT32', shape: [1], data: new Int32Array(1) },
    ];
    const scheduler = new InstanceScheduler(run, true, policy({ maxBatchSize: 2 }));

    const outcomes = await Promise.allSettled([
      scheduler.submit(request(1, 1)),
      scheduler.submit(request(1, 2)),
    ]);

    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(((outcomes[0] as PromiseRejectedResult).reason as Error).message).toContain(
      "output 'Y' has shape [1] for a batch of 2",
    );
  });

  it('splits BYTES outputs by rows', async () => {
    const run: ModelRunner = async ([x]) => [x!];
    const scheduler = new InstanceScheduler(run, true, policy({ maxBatchSize: 3 }));
    const text = (rows: string[]): Tensor[] => [
      {
        name: 'S',
        datatype: 'BYTES',
        shape: [rows.length, 1],
        data: rows.map((r) => new TextEncoder().encode(r)),
      },
    ];

    const answers = await Promise.all([scheduler.submit(text(['a', 'bb'])), scheduler.submit(text(['ccc']))]);

    const decoded = answers.map((a) => (a[0]!.data as Uint8Array[]).map((b) => new TextDecoder().decode(b)));
    expect(decoded).toEqual([['a', 'bb'], ['ccc']]);
  });

  it('counts executions, inferences and batch sizes', async () => {
    const model = doublingModel();
    const scheduler = new InstanceScheduler(model.run, true, policy());

    await Promise.all([scheduler.submit(request(3, 1)), scheduler.submit(request(1, 1))]);
    await Promise.all([scheduler.submit(request(2, 1)), scheduler.submit(request(2, 1))]);

    expect(scheduler.stats).toMatchObject({ executionCount: 2, inferenceCount: 8, success: { count: 4 } });
    expect([...scheduler.stats.batches.keys()]).toEqual([4]);
    const batch = scheduler.stats.batches.get(4)!;
    expect([batch.computeInput.count, batch.computeInfer.count, batch.computeOutput.count]).toEqual([
      2, 2, 2,
    ]);
    expect(scheduler.stats.compute.computeInfer.count).toBe(4);
  });

  // Triton's statistics extension splits an execution into compute_input, compute_infer and
  // compute_output; the runner marks where its input and infer phases end.
  it('times the phases a runner marks', async () => {
    const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const run: ModelRunner = async ([x], phases) => {
      await wait(20);
      phases?.inputsReady();
      // Far longer than the other phases, so that a timer delayed on a busy machine cannot reorder them.
      await wait(120);
      phases?.inferred();
      await wait(20);
      return [x!];
    };
    const scheduler = new InstanceScheduler(run, true);

    await scheduler.submit(request(1, 1));

    const { computeInput, computeInfer, computeOutput } = scheduler.stats.compute;
    expect(computeInput.ns).toBeGreaterThanOrEqual(15e6);
    expect(computeInfer.ns).toBeGreaterThanOrEqual(115e6);
    expect(computeOutput.ns).toBeGreaterThanOrEqual(15e6);
    expect(computeInfer.ns).toBeGreaterThan(computeInput.ns);
  });

  it('counts a failed execution as a failure only, as Triton does', async () => {
    const scheduler = new InstanceScheduler(async () => Promise.reject(new Error('boom')), true);

    await expect(scheduler.submit(request(1, 1))).rejects.toThrow('boom');

    expect(scheduler.stats).toMatchObject({ executionCount: 0, fail: { count: 1 }, queue: { count: 0 } });
    expect(scheduler.stats.compute.computeInfer.count).toBe(0);
    expect(scheduler.stats.batches.size).toBe(0);
  });

  it('rejects queued and new requests once closed', async () => {
    const scheduler = new InstanceScheduler(doublingModel().run, true, policy());

    const queued = scheduler.submit(request(1, 1));
    scheduler.close();

    await expect(queued).rejects.toThrow('the model is unloading');
    await expect(scheduler.submit(request(1, 1))).rejects.toThrow('the model is unloading');
  });
});

describe('InstanceScheduler without dynamic batching', () => {
  it('runs each request in its own execution, one at a time, in arrival order', async () => {
    const model = manualModel();
    const scheduler = new InstanceScheduler(model.run, true);

    const answers = [
      scheduler.submit(request(1, 1)),
      scheduler.submit(request(2, 2)),
      scheduler.submit(request(1, 3)),
    ];
    for (let i = 0; i < 3; i++) {
      await vi.waitFor(() => expect(model.started).toHaveLength(i + 1));
      model.started[i]!.finish();
    }
    const rows = (await Promise.all(answers)).map(rowsOf);

    expect(model.started.map((s) => s.rows)).toEqual([1, 2, 1]);
    expect(rows).toEqual([
      [1, 1],
      [2, 2, 3, 3],
      [3, 3],
    ]);
    expect(scheduler.stats).toMatchObject({ executionCount: 3, inferenceCount: 4 });
  });

  it('counts one inference per request for a model without a batch dimension', async () => {
    const scheduler = new InstanceScheduler(doublingModel().run, false);

    await scheduler.submit(request(3, 1));

    expect(scheduler.stats).toMatchObject({ executionCount: 1, inferenceCount: 1 });
  });
});
