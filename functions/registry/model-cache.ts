import type { Model, RegistryReader } from './registry';

export interface ModelCacheOptions {
  /** How long a read is reused; also the bound on how stale another container's view can be. @default 5000 */
  readonly ttlMs?: number;
  /** Entries kept before the least recently used is dropped. @default 1000 */
  readonly maxEntries?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

interface Entry {
  readonly value: Promise<Model | undefined>;
  readonly expiresAt: number;
}

/**
 * Reads of whole models, kept in the Lambda container for a short TTL so that warm requests make
 * no registry call. Misses are cached too (a flood of requests for an unknown model costs one read
 * per TTL), concurrent misses share one read, and a failed read is not cached. A write made through
 * this container calls `invalidate`, so the writer sees its change at once; other containers see it
 * within `ttlMs`.
 */
export class ModelCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly registry: Pick<RegistryReader, 'getModel'>,
    options: ModelCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5_000;
    this.maxEntries = options.maxEntries ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  getModel(name: string): Promise<Model | undefined> {
    const cached = this.entries.get(name);
    if (cached && cached.expiresAt > this.now()) {
      // Re-insert to mark it most recently used (a Map iterates in insertion order).
      this.entries.delete(name);
      this.entries.set(name, cached);
      return cached.value;
    }
    const value = this.registry.getModel(name);
    this.entries.delete(name);
    this.entries.set(name, { value, expiresAt: this.now() + this.ttlMs });
    value.catch(() => {
      if (this.entries.get(name)?.value === value) this.entries.delete(name);
    });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }

  invalidate(name: string): void {
    this.entries.delete(name);
  }
}
