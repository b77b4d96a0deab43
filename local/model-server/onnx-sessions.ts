/**
 * onnxruntime sessions that run on the model server's onnxruntime thread (onnx-thread.ts), one
 * thread per process for every session of every server in it. The thread starts with the first
 * session and ends with the last. It keeps the process alive only while a request is in flight:
 * open sessions did not keep it alive when they ran on the calling thread either.
 */
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { InferenceSession } from 'onnxruntime-node';
import { runtimeWorker } from '../aws/function-builds';
import type { OnnxReply, OnnxRequest, OnnxTensor } from './onnx-thread';

export type { OnnxTensor } from './onnx-thread';

/** A session on the onnxruntime thread. */
export interface OnnxSession {
  run(
    feeds: Readonly<Record<string, OnnxTensor>>,
    outputNames: readonly string[],
  ): Promise<Readonly<Record<string, OnnxTensor>>>;
  release(): Promise<void>;
}

const THREAD = fileURLToPath(new URL('./onnx-thread.ts', import.meta.url));

type Pending = { resolve: (reply: OnnxReply) => void; reject: (error: Error) => void };

// Distributes the union over its members, so each keeps its own fields.
type Unsent<T> = T extends unknown ? Omit<T, 'id'> : never;

class OnnxThread {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #requests = 0;
  #sessions = 0;
  /** Sessions opened or opening, and not released. */
  #open = 0;

  async open(path: string, options: InferenceSession.SessionOptions): Promise<OnnxSession> {
    const session = ++this.#sessions;
    this.#open++;
    try {
      await this.#request({ kind: 'open', session, path, options });
    } catch (error) {
      this.#closed();
      throw error;
    }
    let released = false;
    return {
      run: async (feeds, outputNames) => {
        if (released) throw new Error('the onnxruntime session was released');
        return (
          (await this.#request({ kind: 'run', session, feeds: detached(feeds), outputNames })).outputs ?? {}
        );
      },
      release: async () => {
        if (released) return;
        released = true;
        try {
          await this.#request({ kind: 'release', session });
        } finally {
          this.#closed();
        }
      },
    };
  }

  #request(message: Unsent<OnnxRequest>): Promise<OnnxReply> {
    const worker = this.#started();
    const id = ++this.#requests;
    if (this.#pending.size === 0) worker.ref();
    return new Promise<OnnxReply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ ...message, id } as OnnxRequest);
    });
  }

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = runtimeWorker(THREAD);
    worker.unref();
    worker.on('message', (reply: OnnxReply) => {
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if (reply.error === undefined) pending?.resolve(reply);
      else pending?.reject(new Error(reply.error));
    });
    const gone = (error: Error) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      for (const { reject } of this.#pending.values()) reject(error);
      this.#pending.clear();
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`the onnxruntime thread exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  /** With no session left, the thread ends (and a later session starts another). */
  #closed(): void {
    if (--this.#open > 0 || !this.#worker) return;
    const worker = this.#worker;
    this.#worker = undefined;
    void worker.terminate();
  }
}

/**
 * Tensors ready to be copied to the thread. A view of a larger buffer (a request body's bytes) is
 * copied first: the copy between threads takes a view's whole buffer.
 */
function detached(feeds: Readonly<Record<string, OnnxTensor>>): Record<string, OnnxTensor> {
  return Object.fromEntries(
    Object.entries(feeds).map(([name, tensor]) => {
      const { data } = tensor;
      const partial = ArrayBuffer.isView(data) && data.byteLength !== data.buffer.byteLength;
      return [name, partial ? { ...tensor, data: data.slice() as typeof data } : tensor];
    }),
  );
}

const thread = new OnnxThread();

/** Opens a session of the model at `path` on the onnxruntime thread. */
export function openOnnxSession(
  path: string,
  options: InferenceSession.SessionOptions,
): Promise<OnnxSession> {
  return thread.open(path, options);
}
