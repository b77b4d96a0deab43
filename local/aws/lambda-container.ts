/**
 * One local Lambda container: runs in its own worker thread, loads the function's handler module
 * once (its init phase) and then answers one invocation at a time, as Lambda's Node.js runtime does.
 * Module state, environment and stdout are the container's own.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import type { Context } from 'aws-lambda';

/** What the runtime tells a container when it starts it. */
export interface ContainerData {
  readonly handlerExport: string;
  readonly functionName: string;
  readonly memoryLimitInMB: number;
  readonly invokedFunctionArn: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  /** Modules imported before the handler; each exported `install(data, { functionName })` is called. */
  readonly preload?: ContainerPreload;
}

export interface ContainerPreload {
  /** File URLs. */
  readonly modules: readonly string[];
  /** Passed to each module's `install`; structured-cloned, so a SharedArrayBuffer stays shared. */
  readonly data?: unknown;
}

/** The handler module, from the runtime to the container once it is built: the init phase starts. */
export interface InitMessage {
  readonly type: 'init';
  /** File URL of the handler module. */
  readonly entry: string;
}

/** An invocation, from the runtime to the container. */
export interface InvokeMessage {
  readonly type: 'invoke';
  /** The request id: the context's awsRequestId. */
  readonly id: string;
  /** The event as JSON, as Lambda delivers it. */
  readonly event: string;
  /** Epoch milliseconds at which the function times out. */
  readonly deadline: number;
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** From the container to the runtime. */
export type ContainerMessage =
  | { readonly type: 'ready' }
  | ({ readonly type: 'result'; readonly id: string; readonly result?: string } & Footprint)
  | ({ readonly type: 'error'; readonly id: string; readonly error: SerializedError } & Footprint);

/** The container's memory when an invocation ends: its isolate's heap, committed, and its buffers. */
interface Footprint {
  readonly memoryBytes: number;
}

type Handler = (event: unknown, context: Context) => unknown;

// The runtime loads the function as one built module with an inline source map: stack traces
// should name the sources, as Lambda's do with NODE_OPTIONS=--enable-source-maps.
process.setSourceMapsEnabled(true);

const port = parentPort;
if (!port) throw new Error('lambda-container runs only as a worker thread of the local Lambda runtime');
const data = workerData as ContainerData;

// Init: a throw here is an uncaught exception, which ends the worker and fails the init.
const { entry } = await new Promise<InitMessage>((resolve) => port.once('message', resolve));
for (const url of data.preload?.modules ?? []) {
  const preloaded = (await import(url)) as { install?: (data: unknown, container: object) => void };
  preloaded.install?.(data.preload?.data, { functionName: data.functionName });
}
const module = (await import(entry)) as Record<string, unknown>;
const handler = module[data.handlerExport];
if (typeof handler !== 'function') {
  throw Object.assign(new Error(`${entry} does not export a function ${data.handlerExport}`), {
    name: 'Runtime.HandlerNotFound',
  });
}

port.on('message', (message: InvokeMessage) => {
  void invoke(handler as Handler, message).then((reply) => port.postMessage(reply));
});
port.postMessage({ type: 'ready' } satisfies ContainerMessage);

async function invoke(handler: Handler, message: InvokeMessage): Promise<ContainerMessage> {
  try {
    const result = await handler(JSON.parse(message.event), contextOf(message));
    // Lambda answers with the result as JSON; what JSON cannot hold does not survive.
    return { type: 'result', id: message.id, result: JSON.stringify(result), ...footprint() };
  } catch (error) {
    return { type: 'error', id: message.id, error: serialize(error), ...footprint() };
  }
}

/**
 * This thread's own memory (V8 keeps a heap per isolate): a lower bound of what Lambda reports as
 * Max Memory Used, which adds the runtime's own. The process's RSS is every container's together.
 */
function footprint(): Footprint {
  const heap = getHeapStatistics();
  return { memoryBytes: heap.total_heap_size + heap.external_memory };
}

function contextOf(message: InvokeMessage): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: data.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: data.invokedFunctionArn,
    memoryLimitInMB: String(data.memoryLimitInMB),
    awsRequestId: message.id,
    logGroupName: data.logGroupName,
    logStreamName: data.logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function serialize(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: 'Error', message: typeof error === 'string' ? error : JSON.stringify(error) };
}
