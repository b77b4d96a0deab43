/**
 * The thread the local model server runs onnxruntime on. onnxruntime-node's `run` is synchronous on
 * the JavaScript thread that calls it: on the server's own thread every execution stopped its HTTP,
 * and on the local platform every emulator sharing that thread, for the execution's whole length.
 * Triton runs each model instance on a thread of its own; here the sessions are opened, run and
 * released on this thread, and the server sends tensors and gets tensors back (onnx-sessions.ts).
 */
import { parentPort } from 'node:worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';

/** A tensor as it crosses between the threads: onnxruntime's type, elements and dims. */
export interface OnnxTensor {
  readonly type: Tensor.Type;
  readonly data: Tensor.DataType;
  readonly dims: readonly number[];
}

export type OnnxRequest = { readonly id: number; readonly session: number } & (
  | { readonly kind: 'open'; readonly path: string; readonly options: InferenceSession.SessionOptions }
  | {
      readonly kind: 'run';
      readonly feeds: Readonly<Record<string, OnnxTensor>>;
      readonly outputNames: readonly string[];
    }
  | { readonly kind: 'release' }
);

export interface OnnxReply {
  readonly id: number;
  /** A run's outputs by name. */
  readonly outputs?: Readonly<Record<string, OnnxTensor>>;
  /** onnxruntime's message, when the request failed. */
  readonly error?: string;
}

const sessions = new Map<number, InferenceSession>();

async function serve(request: OnnxRequest): Promise<Omit<OnnxReply, 'id'>> {
  if (request.kind === 'open') {
    sessions.set(request.session, await InferenceSession.create(request.path, request.options));
    return {};
  }
  const session = sessions.get(request.session);
  if (!session) throw new Error(`no onnxruntime session ${request.session} on this thread`);
  if (request.kind === 'release') {
    sessions.delete(request.session);
    await session.release();
    return {};
  }
  const feeds = Object.fromEntries(
    Object.entries(request.feeds).map(([name, t]) => [name, new Tensor(t.type, t.data, t.dims)]),
  );
  const results = await session.run(feeds, [...request.outputNames]);
  return {
    outputs: Object.fromEntries(
      Object.entries(results).map(([name, t]) => [name, { type: t.type, data: t.data, dims: t.dims }]),
    ),
  };
}

/** Each session's requests in order: a release waits for the runs sent before it. */
const queues = new Map<number, Promise<unknown>>();

parentPort?.on('message', (request: OnnxRequest) => {
  const served = (queues.get(request.session) ?? Promise.resolve()).then(() => serve(request));
  const queued = served.catch(() => undefined);
  queues.set(request.session, queued);
  void queued.then(() => {
    if (queues.get(request.session) === queued) queues.delete(request.session);
  });
  served.then(
    (reply) => parentPort?.postMessage({ id: request.id, ...reply } satisfies OnnxReply),
    (error: unknown) =>
      parentPort?.postMessage({
        id: request.id,
        error: error instanceof Error ? error.message : String(error),
      } satisfies OnnxReply),
  );
});
