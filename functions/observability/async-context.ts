import { AsyncLocalStorage } from 'node:async_hooks';

type Context = Record<string, unknown>;

/**
 * The X-Ray SDK's trace context (its `cls-hooked` namespace), kept in an `AsyncLocalStorage`
 * instead of cls-hooked's async hook. cls-hooked tracks the creation, every run and the garbage
 * collection of each promise for the life of the process (about 5 µs a promise on Node 20, a tenth
 * of a warm request's CPU), while the storage only copies the active context onto each new
 * resource. Same methods, same semantics, for the parts the SDK and Powertools use (aws-xray-sdk-node
 * `context_utils.js`, `capture.js`, `env/aws_lambda.js`, `patchers/*`).
 */
export class AsyncContextNamespace {
  readonly #storage = new AsyncLocalStorage<Context>();
  /**
   * What `enter` set outside any `run`: in Lambda the SDK enters one context at load and keeps the
   * invocation's segment there, and cls-hooked keeps an entered context for the whole process, not
   * only for what the loading code goes on to start.
   */
  #entered: Context | undefined;
  /** cls-hooked's `destroyNamespace` refuses a namespace without an id. */
  readonly id = -1;

  constructor(readonly name: string) {}

  get active(): Context | undefined {
    return this.#storage.getStore() ?? this.#entered;
  }

  /** A child of the active context: it sees the parent's keys, and its own writes stay its own. */
  createContext(): Context {
    return Object.create(this.active ?? Object.prototype) as Context;
  }

  get(key: string): unknown {
    return this.active?.[key];
  }

  set<T>(key: string, value: T): T {
    const active = this.active;
    if (!active) throw new Error('No context available. ns.run() or ns.bind() must be called first.');
    active[key] = value;
    return value;
  }

  enter(context: Context): void {
    if (this.#storage.getStore() === undefined) this.#entered = context;
    else this.#storage.enterWith(context);
  }

  /** Leaves a context `enter` made process-wide; a `run` or `bind` context ends with its callback. */
  exit(context: Context): void {
    if (this.#entered === context) this.#entered = undefined;
  }

  /** Runs `fn` in a new child context, synchronously, and returns that context. */
  run(fn: (context: Context) => void): Context {
    const context = this.createContext();
    this.#storage.run(context, fn, context);
    return context;
  }

  runAndReturn<T>(fn: (context: Context) => T): T {
    const context = this.createContext();
    return this.#storage.run(context, fn, context);
  }

  runPromise<T>(fn: (context: Context) => Promise<T>): Promise<T> {
    return this.runAndReturn(fn);
  }

  /** `fn`, run in `context` (by default the one active now) whenever and wherever it is called. */
  bind<A extends unknown[], R>(fn: (...args: A) => R, context?: Context): (...args: A) => R {
    const bound = context ?? this.active ?? this.createContext();
    const storage = this.#storage;
    return function (this: unknown, ...args: A) {
      return storage.run(bound, () => fn.apply(this, args));
    };
  }
}

/** cls-hooked's module object (`cls-hooked/context`), which the X-Ray SDK calls through. */
interface ClsModule {
  createNamespace(name: string): unknown;
}

/**
 * Makes cls-hooked create this namespace instead of its own. Must run before the X-Ray SDK loads:
 * its `context_utils.js` creates its namespace as it loads, and cls-hooked never removes a hook.
 */
export function useAsyncLocalStorage(cls: ClsModule): void {
  cls.createNamespace = (name) => {
    const namespace = new AsyncContextNamespace(name);
    (process as unknown as { namespaces: Record<string, unknown> }).namespaces[name] = namespace;
    return namespace;
  };
}
