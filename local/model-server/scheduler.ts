/**
 * Scheduling of inference requests onto one model instance, as Triton does it: one execution at a
 * time, and for models whose config has `dynamic_batching`, concurrent requests merged along dim 0
 * into one execution whose outputs are split back by each request's rows.
 *
 * Executions run on the onnxruntime thread (onnx-thread.ts), which takes them one at a time anyway.
 * Holding each instance to one at a time is what Triton does, and lets requests queue up while an
 * execution runs, which is what gives the batcher something to merge.
 */
import { elementCount, formatShape } from '../../functions/inference/protocol';
import { concatenate, sliceElements, type Tensor } from './tensors';

/** Waits shorter than this poll the event loop instead of setting a timer. */
const SPIN_BELOW_MS = 0.25;

/**
 * Runs one execution of a model: every input batched along dim 0, every output of the model back.
 * A runner that can tell its phases apart calls `phases.inputsReady()` once the inputs are in the
 * framework's form and `phases.inferred()` once the framework has run; the rest of the execution
 * (merging and splitting batches) the scheduler times itself.
 */
export type ModelRunner = (inputs: readonly Tensor[], phases?: ExecutionPhases) => Promise<Tensor[]>;

/** Marks the end of an execution's input and infer phases (Triton's compute_input and compute_infer). */
export interface ExecutionPhases {
  inputsReady(): void;
  inferred(): void;
}

export interface BatchingPolicy {
  /** The most rows one execution may hold (`max_batch_size`). */
  readonly maxBatchSize: number;
  /** Batch sizes worth sending without waiting longer (`preferred_batch_size`). */
  readonly preferredBatchSizes: readonly number[];
  /** How long the oldest queued request may wait for others to join it (`max_queue_delay_microseconds`). */
  readonly maxQueueDelayMicroseconds: number;
}

/** A count and the nanoseconds spent, as in Triton's statistics extension. */
export interface Duration {
  count: number;
  ns: number;
}

/** An execution's phases, as Triton's statistics extension splits a model execution. */
export interface ComputeStats {
  /** Preparing inputs: merging a batch and converting tensors for the framework. */
  readonly computeInput: Duration;
  /** The framework's run. */
  readonly computeInfer: Duration;
  /** Taking outputs from the framework and splitting a batch back into requests. */
  readonly computeOutput: Duration;
}

/** Counters of one model version, named after Triton's statistics extension. */
export interface SchedulerStats {
  /** Epoch milliseconds of the last request answered; 0 before any. */
  lastInference: number;
  /** Successful inferences, counting every row (batch element) of a batched request. */
  inferenceCount: number;
  /** Successful model executions; fewer than requests when requests were batched together. */
  executionCount: number;
  /** Requests answered, from arrival at the scheduler to their outputs. */
  success: Duration;
  /** Requests that failed inside the model. */
  fail: Duration;
  /** Time requests spent queued before their execution started. */
  queue: Duration;
  /** Time requests spent in each phase of their executions (each request of a batch counts the whole execution). */
  readonly compute: ComputeStats;
  /** Successful executions by batch size (rows): how many, and the time of each phase. */
  readonly batches: Map<number, ComputeStats>;
}

/** The scheduler closed while a request was queued. */
export class SchedulerClosedError extends Error {
  override readonly name = 'SchedulerClosedError';
}

interface Pending {
  readonly inputs: readonly Tensor[];
  readonly rows: number;
  /** Requests merge only when their keys agree: same inputs, datatypes and non-batch dims. */
  readonly key: string;
  readonly enqueuedAt: number;
  resolve(outputs: Tensor[]): void;
  reject(error: unknown): void;
}

/**
 * The scheduler of one model instance, which Triton would use for a model with this configuration.
 *
 * Without `batching`, requests run one execution each, in arrival order (Triton's default
 * scheduler). With it, this is Triton's dynamic batcher: a batch leaves the queue when its rows reach
 * `max_batch_size` or a preferred batch size, when its oldest request has waited
 * `max_queue_delay_microseconds`, or when the next request could not join it (it would exceed
 * `max_batch_size`, or its shapes differ). Requests are taken in arrival order and never split.
 * While an execution runs, requests keep queueing; the next batch is formed when it ends.
 *
 * An execution that fails fails every request in it, as in Triton: they shared one model run.
 */
export class InstanceScheduler {
  readonly stats: SchedulerStats = {
    lastInference: 0,
    inferenceCount: 0,
    executionCount: 0,
    success: { count: 0, ns: 0 },
    fail: { count: 0, ns: 0 },
    queue: { count: 0, ns: 0 },
    compute: emptyCompute(),
    batches: new Map(),
  };
  private readonly queue: Pending[] = [];
  private busy = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  /**
   * @param run one model execution
   * @param batched whether the model's dim 0 is the batch (`max_batch_size > 0`)
   * @param batching the dynamic batching policy, when the config has `dynamic_batching`
   */
  constructor(
    private readonly run: ModelRunner,
    private readonly batched: boolean,
    readonly batching?: BatchingPolicy,
  ) {}

  /** Runs one request (its rows are dim 0 of each input) and resolves with its own rows of every output. */
  submit(inputs: readonly Tensor[]): Promise<Tensor[]> {
    if (this.closed) return Promise.reject(new SchedulerClosedError('the model is unloading'));
    return new Promise((resolve, reject) => {
      this.queue.push({
        inputs,
        rows: this.batched ? (inputs[0]?.shape[0] ?? 1) : 1,
        key: compatibilityKey(inputs),
        enqueuedAt: performance.now(),
        resolve,
        reject,
      });
      this.schedule();
    });
  }

  /** Fails every queued request and refuses new ones. */
  close(): void {
    this.closed = true;
    this.disarm();
    for (const pending of this.queue.splice(0)) {
      pending.reject(new SchedulerClosedError('the model is unloading'));
    }
  }

  private schedule(): void {
    this.disarm();
    if (this.busy || this.closed || this.queue.length === 0) return;
    const plan = this.plan(performance.now());
    if (plan.take > 0) {
      void this.execute(this.queue.splice(0, plan.take));
      return;
    }
    // Every arrival plans again (submit), so only the oldest request's deadline needs a wake-up.
    // Timers have millisecond resolution: a timer may fire up to a millisecond late, and only a
    // wait shorter than SPIN_BELOW_MS polls once per event loop turn instead, rather than spinning
    // the CPU that the requests still on their way need.
    if (plan.waitMs < SPIN_BELOW_MS) {
      this.immediate = setImmediate(() => this.schedule());
    } else {
      this.timer = setTimeout(() => this.schedule(), Math.ceil(plan.waitMs));
    }
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  /** How many queued requests to send now (0: none yet), or how long to wait for more. */
  private plan(now: number): { take: number; waitMs: number } {
    if (this.batching === undefined) return { take: 1, waitMs: 0 };
    const { maxBatchSize, preferredBatchSizes, maxQueueDelayMicroseconds } = this.batching;
    const head = this.queue[0]!;
    let rows = 0;
    let take = 0;
    let preferredTake = 0;
    let complete = false;
    for (const pending of this.queue) {
      if (pending.key !== head.key || rows + pending.rows > maxBatchSize) {
        complete = true;
        break;
      }
      rows += pending.rows;
      take++;
      if (preferredBatchSizes.includes(rows)) preferredTake = take;
      if (rows === maxBatchSize) {
        complete = true;
        break;
      }
    }
    const waitedMs = now - head.enqueuedAt;
    const delayMs = maxQueueDelayMicroseconds / 1000;
    if (complete || waitedMs >= delayMs) return { take, waitMs: 0 };
    if (preferredTake > 0) return { take: preferredTake, waitMs: 0 };
    return { take: 0, waitMs: delayMs - waitedMs };
  }

  private async execute(batch: Pending[]): Promise<void> {
    this.busy = true;
    const rows = batch.reduce((sum, pending) => sum + pending.rows, 0);
    const times: ExecutionTimes = { started: performance.now(), inputsReady: 0, inferred: 0, ended: 0 };
    const phases: ExecutionPhases = {
      inputsReady: () => {
        times.inputsReady = performance.now();
      },
      inferred: () => {
        times.inferred = performance.now();
      },
    };
    let outcome: { split: Tensor[][] } | { error: unknown };
    try {
      const inputs = batch.length === 1 ? batch[0]!.inputs : mergeInputs(batch, rows);
      const merged = performance.now();
      const outputs = await this.run(inputs, phases);
      // A runner that does not mark its phases: merging is the input phase, its whole run the infer phase.
      times.inputsReady ||= merged;
      times.inferred ||= performance.now();
      outcome = { split: batch.length === 1 ? [outputs] : splitOutputs(outputs, batch, rows) };
    } catch (error) {
      outcome = { error };
    }
    times.ended = performance.now();
    this.record(batch, rows, times, !('error' in outcome));
    batch.forEach((pending, i) => {
      if ('error' in outcome) pending.reject(outcome.error);
      else pending.resolve(outcome.split[i]!);
    });
    this.busy = false;
    this.schedule();
  }

  private record(batch: readonly Pending[], rows: number, times: ExecutionTimes, ok: boolean): void {
    const { stats } = this;
    const { started, ended } = times;
    stats.lastInference = Date.now();
    for (const pending of batch) {
      add(ok ? stats.success : stats.fail, ns(ended - pending.enqueuedAt));
      // Triton counts a failed request's duration alone (InferenceStatsAggregator::UpdateFailure in
      // core's src/infer_stats.cc); queue and compute phases only for successes.
      if (!ok) continue;
      add(stats.queue, ns(started - pending.enqueuedAt));
      addCompute(stats.compute, times);
    }
    if (!ok) return;
    stats.inferenceCount += rows;
    stats.executionCount++;
    const bySize = stats.batches.get(rows) ?? emptyCompute();
    addCompute(bySize, times);
    stats.batches.set(rows, bySize);
  }
}

interface ExecutionTimes {
  readonly started: number;
  inputsReady: number;
  inferred: number;
  ended: number;
}

const ns = (ms: number) => Math.max(0, Math.round(ms * 1e6));

function emptyCompute(): ComputeStats {
  return {
    computeInput: { count: 0, ns: 0 },
    computeInfer: { count: 0, ns: 0 },
    computeOutput: { count: 0, ns: 0 },
  };
}

function addCompute(stats: ComputeStats, times: ExecutionTimes): void {
  add(stats.computeInput, ns(times.inputsReady - times.started));
  add(stats.computeInfer, ns(times.inferred - times.inputsReady));
  add(stats.computeOutput, ns(times.ended - times.inferred));
}

function add(duration: Duration, ns: number): void {
  duration.count++;
  duration.ns += ns;
}

function compatibilityKey(inputs: readonly Tensor[]): string {
  return inputs
    .map((t) => `${t.name}\u0000${t.datatype}\u0000${t.shape.slice(1).join(',')}`)
    .sort()
    .join('\u0001');
}

/** Each input of the batch: the requests' tensors of that name, concatenated along dim 0. */
function mergeInputs(batch: readonly Pending[], rows: number): Tensor[] {
  return batch[0]!.inputs.map((first) => ({
    name: first.name,
    datatype: first.datatype,
    shape: [rows, ...first.shape.slice(1)],
    data: concatenate(
      first.datatype,
      batch.map((pending) => pending.inputs.find((t) => t.name === first.name)!.data),
    ),
  }));
}

/** Every request's own rows of each output, in batch order. */
function splitOutputs(outputs: readonly Tensor[], batch: readonly Pending[], rows: number): Tensor[][] {
  for (const output of outputs) {
    if (output.shape[0] !== rows) {
      throw new Error(
        `output '${output.name}' has shape ${formatShape(output.shape)} for a batch of ${rows}; a batched model must return dim 0 equal to the batch size`,
      );
    }
  }
  const perRequest: Tensor[][] = batch.map(() => []);
  for (const output of outputs) {
    const rowElements = elementCount(output.shape.slice(1));
    let row = 0;
    batch.forEach((pending, i) => {
      perRequest[i]!.push({
        name: output.name,
        datatype: output.datatype,
        shape: [pending.rows, ...output.shape.slice(1)],
        data: sliceElements(output.data, row * rowElements, (row + pending.rows) * rowElements),
      });
      row += pending.rows;
    });
  }
  return perRequest;
}
