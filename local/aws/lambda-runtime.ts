/**
 * Lambda's execution model, locally: every function gets its own pool of containers, each a worker
 * thread with its own module state and environment, running one invocation at a time. A container
 * starts when every other one is busy (up to the function's maximum concurrency, beyond which
 * invocations wait), stays warm for the next invocation, is terminated when an invocation times out
 * and is replaced when it crashes. What containers print is published line by line on a
 * FunctionOutputBus.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { LambdaHandler } from './api-gateway';
import { functionModule, runtimeModule, runtimeWorker } from './function-builds';
import { emfOf, FunctionOutputBus } from './function-output';
import type {
  ContainerData,
  ContainerMessage,
  ContainerPreload,
  InitMessage,
  InvokeMessage,
} from './lambda-container';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONTAINER = fileURLToPath(new URL('./lambda-container.ts', import.meta.url));
const REGION = 'us-east-1';
const ACCOUNT = '000000000000';

export interface LambdaFunctionConfig {
  /** The function's name: the context's functionName and the `functionName` of its output lines. */
  readonly name: string;
  /** The handler module: a path relative to the repository root (`functions/handlers/health/handler.ts`) or absolute. */
  readonly entry: string;
  /** The module's export that handles invocations. @default 'handler' */
  readonly handlerExport?: string;
  /** Environment of this function's containers, on top of the runtime's. */
  readonly env?: Readonly<Record<string, string>>;
  /** Containers at most; further invocations wait for a free one. @default 10 */
  readonly maxConcurrency?: number;
  /** An invocation running longer is failed and its container terminated. @default 10000, the stack's default */
  readonly timeoutMs?: number;
  /** The context's memoryLimitInMB. @default 512 */
  readonly memoryLimitInMB?: number;
}

export interface LambdaRuntimeOptions {
  /** Where containers' output lines go. @default a new bus */
  readonly output?: FunctionOutputBus;
  /** Environment of every container, on top of this process's. */
  readonly env?: Readonly<Record<string, string>>;
  /** Also write lines that are not EMF to this process's stdout and stderr. @default true */
  readonly echo?: boolean;
  /** Loaded into every container before its handler, e.g. to inject faults below the SDK. */
  readonly preload?: ContainerPreload;
}

/** An invocation that ran past its function's timeout; its container was terminated. */
export class LambdaTimeoutError extends Error {
  override readonly name = 'Sandbox.Timedout';
}

/** The runtime itself failed an invocation: its container crashed, failed to init or was stopped. */
export class LambdaRuntimeError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A module URL or repository path as a path to build from. */
const sourceOf = (entry: string) =>
  entry.startsWith('file:') ? fileURLToPath(entry) : entry.startsWith('/') ? entry : `${ROOT}${entry}`;

interface Shared {
  readonly output: FunctionOutputBus;
  readonly env: Readonly<Record<string, string>>;
  readonly echo: boolean;
  readonly preload?: ContainerPreload;
}

/** The local Lambda service: the functions it runs and the output bus they print to. */
export class LambdaRuntime {
  readonly output: FunctionOutputBus;
  readonly #shared: Shared;
  readonly #functions = new Map<string, LambdaFunction>();

  constructor(options: LambdaRuntimeOptions = {}) {
    this.output = options.output ?? new FunctionOutputBus();
    this.#shared = {
      output: this.output,
      env: options.env ?? {},
      echo: options.echo ?? true,
      ...(options.preload ? { preload: options.preload } : {}),
    };
  }

  /** Creates a function; no container starts until it is invoked or prewarmed. */
  define(config: LambdaFunctionConfig): LambdaFunction {
    if (this.#functions.has(config.name)) throw new Error(`function ${config.name} is already defined`);
    const fn = new LambdaFunction(config, this.#shared);
    this.#functions.set(config.name, fn);
    return fn;
  }

  get functions(): readonly LambdaFunction[] {
    return [...this.#functions.values()];
  }

  /** Drops every function's containers, as when Lambda recycles them (see LambdaFunction.recycle). */
  async recycle(): Promise<void> {
    await Promise.all(this.functions.map((fn) => fn.recycle()));
  }

  /** Terminates every container; invocations in flight or waiting fail. */
  async close(): Promise<void> {
    await Promise.all(this.functions.map((fn) => fn.close()));
  }
}

/** One function and its pool of containers. */
export class LambdaFunction {
  readonly name: string;
  readonly timeoutMs: number;
  readonly maxConcurrency: number;
  readonly #config: LambdaFunctionConfig;
  readonly #shared: Shared;
  readonly #module: Promise<string>;
  readonly #inits = { count: 0, totalMs: 0 };
  #peakMemoryBytes = 0;
  readonly #containers = new Set<Container>();
  readonly #waiting: { resolve: (c: Container) => void; reject: (e: Error) => void }[] = [];
  #closed = false;

  constructor(config: LambdaFunctionConfig, shared: Partial<Shared> = {}) {
    this.#config = config;
    this.name = config.name;
    this.timeoutMs = config.timeoutMs ?? 10_000;
    this.maxConcurrency = config.maxConcurrency ?? 10;
    this.#shared = {
      output: shared.output ?? new FunctionOutputBus(),
      env: shared.env ?? {},
      echo: shared.echo ?? true,
      ...(shared.preload ? { preload: shared.preload } : {}),
    };
    // Built now, in the background: a container waits for its function's module only.
    this.#module = functionModule(sourceOf(config.entry));
  }

  /** The most memory one of its containers held at the end of an invocation (see lambda-container.ts). */
  get peakMemoryBytes(): number {
    return this.#peakMemoryBytes;
  }

  /** Cold starts so far: containers that finished their init, and how long inits took (worker start to handler loaded). */
  get inits(): Readonly<{ count: number; totalMs: number }> {
    return { ...this.#inits };
  }

  /** Containers alive now, busy or idle. */
  get containerCount(): number {
    return this.#containers.size;
  }

  /**
   * Runs one invocation in a free container and resolves with the handler's result after a round
   * trip through JSON; rejects with the handler's error (same name and message), a
   * LambdaTimeoutError or a LambdaRuntimeError.
   */
  async invoke<R = unknown>(event: unknown): Promise<R> {
    const container = await this.#acquire();
    try {
      return (await container.invoke(event, this.timeoutMs)) as R;
    } finally {
      this.#release(container);
    }
  }

  /** The function as a handler an event source calls; the caller's context is not passed on. */
  handler<E, R>(): LambdaHandler<E, R> {
    return (event) => this.invoke<R>(event);
  }

  /** Starts a container if there is none, so that the first invocation is not a cold start. */
  async prewarm(): Promise<void> {
    const container = [...this.#containers].find((c) => !c.retiring && !c.gone) ?? this.#start();
    await container.ready;
  }

  /**
   * Lambda recycling the containers: idle ones are terminated now and busy ones after their
   * invocation, so every later invocation starts with fresh module state.
   */
  async recycle(): Promise<void> {
    const idle: Container[] = [];
    for (const container of this.#containers) {
      container.retiring = true;
      if (!container.busy) idle.push(container);
    }
    await Promise.all(idle.map((c) => this.#remove(c)));
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0))
      waiter.reject(new LambdaRuntimeError('Runtime.Closed', `${this.name}: the runtime was closed`));
    await Promise.all([...this.#containers].map((c) => this.#remove(c)));
  }

  #acquire(): Promise<Container> {
    if (this.#closed)
      return Promise.reject(new LambdaRuntimeError('Runtime.Closed', `${this.name}: the runtime was closed`));
    const container = this.#free();
    if (container) return Promise.resolve(container);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** A container for one invocation, marked busy: an idle one, else a new one if the pool has room. */
  #free(): Container | undefined {
    let container = [...this.#containers].find((c) => !c.busy && !c.retiring && !c.gone);
    if (!container && this.#containers.size < this.maxConcurrency) container = this.#start();
    if (container) container.busy = true;
    return container;
  }

  #release(container: Container): void {
    container.busy = false;
    if (container.retiring || container.gone) void this.#remove(container);
    else container.idle();
    this.#dispatch();
  }

  #dispatch(): void {
    while (this.#waiting.length > 0 && !this.#closed) {
      const container = this.#free();
      if (!container) return;
      this.#waiting.shift()!.resolve(container);
    }
  }

  #start(): Container {
    const onInit = (ms: number) => {
      this.#inits.count += 1;
      this.#inits.totalMs += ms;
    };
    const onMemory = (bytes: number) => {
      this.#peakMemoryBytes = Math.max(this.#peakMemoryBytes, bytes);
    };
    const container = new Container(this.#config, this.#shared, this.#module, { onInit, onMemory }, () => {
      // Gone on its own (crash, timeout): its place in the pool is free again.
      this.#containers.delete(container);
      this.#dispatch();
    });
    this.#containers.add(container);
    return container;
  }

  async #remove(container: Container): Promise<void> {
    this.#containers.delete(container);
    await container.terminate();
  }
}

interface InFlight {
  readonly id: string;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** One worker thread running the function's code. */
class Container {
  readonly ready: Promise<void>;
  busy = false;
  retiring = false;
  gone = false;
  readonly #config: LambdaFunctionConfig;
  readonly #shared: Shared;
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  #current: InFlight | undefined;
  #crash: unknown;

  constructor(
    config: LambdaFunctionConfig,
    shared: Shared,
    module: Promise<string>,
    report: { readonly onInit: (ms: number) => void; readonly onMemory: (bytes: number) => void },
    onGone: () => void,
  ) {
    const { onInit, onMemory } = report;
    this.#config = config;
    this.#shared = shared;
    const name = config.name;
    const memory = config.memoryLimitInMB ?? 512;
    // Lambda's log stream name: date, version and an id of the execution environment.
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    const logStreamName = `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
    const data: ContainerData = {
      handlerExport: config.handlerExport ?? 'handler',
      functionName: name,
      memoryLimitInMB: memory,
      invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`,
      logGroupName: `/aws/lambda/${name}`,
      logStreamName,
      ...(shared.preload
        ? {
            preload: {
              ...shared.preload,
              modules: shared.preload.modules.map((m) => runtimeModule(sourceOf(m))),
            },
          }
        : {}),
    };
    this.#worker = runtimeWorker(CONTAINER, {
      workerData: data,
      env: {
        ...process.env,
        ...shared.env,
        ...config.env,
        // Set by Lambda in every execution environment.
        AWS_LAMBDA_FUNCTION_NAME: name,
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memory),
        AWS_LAMBDA_LOG_GROUP_NAME: data.logGroupName,
        AWS_LAMBDA_LOG_STREAM_NAME: logStreamName,
        AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      },
      stdout: true,
      stderr: true,
    });
    // An idle container must not keep this process alive; a busy one does (see invoke).
    this.#worker.unref();
    this.#pipe(this.#worker.stdout, 'stdout');
    this.#pipe(this.#worker.stderr, 'stderr');

    let ready: () => void = () => undefined;
    let failed: (error: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      ready = resolve;
      failed = reject;
    });
    // Nobody may be waiting for a prewarmed container; its failure shows on the next invocation.
    this.ready.catch(() => undefined);
    let started = false;
    const startedAt = performance.now();

    this.#worker.on('message', (message: ContainerMessage) => {
      if (message.type === 'ready') {
        started = true;
        onInit(performance.now() - startedAt);
        ready();
        return;
      }
      onMemory(message.memoryBytes);
      const current = this.#current;
      if (!current || current.id !== message.id) return;
      this.#settle();
      if (message.type === 'result')
        current.resolve(message.result === undefined ? undefined : JSON.parse(message.result));
      else current.reject(Object.assign(new Error(message.error.message), message.error));
    });
    this.#worker.on('error', (error) => {
      this.#crash = error;
    });
    // The worker boots while its function's module may still be building, and loads it when told.
    module.then(
      (entry) => this.#worker.postMessage({ type: 'init', entry } satisfies InitMessage),
      (error: unknown) => {
        this.#crash = error;
        void this.terminate();
      },
    );
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        this.gone = true;
        const cause = this.#crash;
        const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : `exit status ${code}`;
        if (!started) {
          failed(new LambdaRuntimeError('Runtime.InitError', `${name}: init failed: ${detail}`, { cause }));
        }
        const current = this.#current;
        if (current) {
          this.#settle();
          this.#log(`RequestId: ${current.id} Error: Runtime exited with error: ${detail}`);
          current.reject(
            new LambdaRuntimeError('Runtime.ExitError', `${name}: runtime exited with error: ${detail}`, {
              cause,
            }),
          );
        } else if (started && cause) {
          this.#log(`Runtime exited with error: ${detail}`);
        }
        onGone();
        resolve();
      });
    });
  }

  async invoke(event: unknown, timeoutMs: number): Promise<unknown> {
    this.#worker.ref();
    await this.ready;
    if (this.gone)
      throw new LambdaRuntimeError('Runtime.ExitError', `${this.#config.name}: container is gone`);
    const id = randomUUID();
    const message: InvokeMessage = {
      type: 'invoke',
      id,
      event: JSON.stringify(event),
      deadline: Date.now() + timeoutMs,
    };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle();
        const seconds = (timeoutMs / 1000).toFixed(2);
        this.#log(`RequestId: ${id} Error: Task timed out after ${seconds} seconds`);
        reject(new LambdaTimeoutError(`${this.#config.name}: task timed out after ${seconds} seconds`));
        // As Lambda does: the container that timed out is not reused.
        void this.terminate();
      }, timeoutMs);
      this.#current = { id, resolve, reject, timer };
      this.#worker.postMessage(message);
    });
  }

  /** Back in the pool: the container no longer holds this process open. */
  idle(): void {
    this.#worker.unref();
  }

  async terminate(): Promise<void> {
    this.gone = true;
    await this.#worker.terminate().catch(() => undefined);
    await this.#exited;
  }

  #settle(): void {
    if (this.#current) clearTimeout(this.#current.timer);
    this.#current = undefined;
  }

  /** A line from the runtime itself, as Lambda writes to the function's log stream. */
  #log(line: string): void {
    this.#emit(line, 'stderr');
  }

  #pipe(stream: Readable, to: 'stdout' | 'stderr'): void {
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
      this.#emit(line, to),
    );
  }

  #emit(line: string, to: 'stdout' | 'stderr'): void {
    const emf = emfOf(line);
    this.#shared.output.publish({
      functionName: this.#config.name,
      line,
      at: Date.now(),
      ...(emf ? { emf } : {}),
    });
    // Metrics go to the bus only: in a terminal they are noise.
    if (!emf && this.#shared.echo) process[to].write(`${line}\n`);
  }
}
