import { describe, expect, it, vi } from 'vitest';
import { ModelCache } from '../../functions/registry/model-cache';
import type { Model } from '../../functions/registry/registry';

const model = (name: string): Model => ({ name, createdAt: 'now', versions: [], aliases: [] });

function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  let clock = 0;
  const getModel = vi.fn(async (name: string) => (name === 'missing' ? undefined : model(name)));
  const cache = new ModelCache({ getModel }, { ...options, now: () => clock });
  return { cache, getModel, advance: (ms: number) => (clock += ms) };
}

describe('ModelCache', () => {
  it('reads a model once within the TTL and again after it', async () => {
    const { cache, getModel, advance } = setup({ ttlMs: 1000 });
    await cache.getModel('a');
    advance(999);
    await cache.getModel('a');
    expect(getModel).toHaveBeenCalledTimes(1);
    advance(1);
    await cache.getModel('a');
    expect(getModel).toHaveBeenCalledTimes(2);
  });

  it('caches a missing model too', async () => {
    const { cache, getModel } = setup();
    expect(await cache.getModel('missing')).toBeUndefined();
    expect(await cache.getModel('missing')).toBeUndefined();
    expect(getModel).toHaveBeenCalledTimes(1);
  });

  it('shares one read among concurrent misses', async () => {
    const { cache, getModel } = setup();
    await Promise.all([cache.getModel('a'), cache.getModel('a'), cache.getModel('a')]);
    expect(getModel).toHaveBeenCalledTimes(1);
  });

  it('reads again after invalidate', async () => {
    const { cache, getModel } = setup();
    await cache.getModel('a');
    cache.invalidate('a');
    await cache.getModel('a');
    expect(getModel).toHaveBeenCalledTimes(2);
  });

  it('does not keep a failed read', async () => {
    const { cache, getModel } = setup();
    getModel.mockRejectedValueOnce(new Error('throttled'));
    await expect(cache.getModel('a')).rejects.toThrow('throttled');
    expect(await cache.getModel('a')).toEqual(model('a'));
    expect(getModel).toHaveBeenCalledTimes(2);
  });

  it('drops the least recently used entry beyond its size', async () => {
    const { cache, getModel } = setup({ maxEntries: 2 });
    await cache.getModel('a');
    await cache.getModel('b');
    await cache.getModel('a'); // a is now the most recent
    await cache.getModel('c'); // evicts b
    await cache.getModel('a');
    expect(getModel).toHaveBeenCalledTimes(3);
    await cache.getModel('b');
    expect(getModel).toHaveBeenCalledTimes(4);
  });
});
