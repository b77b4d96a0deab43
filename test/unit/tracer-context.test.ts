import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { AsyncContextNamespace } from '../../functions/observability/async-context';

describe('the trace context namespace', () => {
  it('keeps a context entered outside any run for work started anywhere later, as cls-hooked does', async () => {
    const ns = new AsyncContextNamespace('entered');
    const context = ns.createContext();
    ns.enter(context);
    ns.set('segment', 'facade');
    const seen = await new Promise((resolve) => setImmediate(() => resolve(ns.get('segment'))));
    expect(seen).toBe('facade');
    ns.exit(context);
    expect(ns.get('segment')).toBeUndefined();
  });

  it('gives each run a child context: the parent keys show through, its own writes stay its own', () => {
    const ns = new AsyncContextNamespace('child');
    ns.enter(ns.createContext());
    ns.set('segment', 'parent');
    const child = ns.run(() => {
      expect(ns.get('segment')).toBe('parent');
      ns.set('segment', 'child');
      expect(ns.get('segment')).toBe('child');
    });
    expect(child.segment).toBe('child');
    expect(ns.get('segment')).toBe('parent');
  });

  it('follows each run through its own awaits while runs interleave', async () => {
    const ns = new AsyncContextNamespace('interleaved');
    const traced = (name: string, delayMs: number) =>
      ns.runPromise(async () => {
        ns.set('segment', name);
        await sleep(delayMs);
        await Promise.resolve();
        return ns.get('segment');
      });
    expect(await Promise.all([traced('a', 20), traced('b', 5), traced('c', 10)])).toEqual(['a', 'b', 'c']);
  });

  it('runs a bound function in the context it was bound in, wherever it is called from', async () => {
    const ns = new AsyncContextNamespace('bound');
    const read = ns.runAndReturn(() => {
      ns.set('segment', 'at bind');
      return ns.bind(() => ns.get('segment'));
    });
    const calledElsewhere = ns.runAndReturn(() => {
      ns.set('segment', 'elsewhere');
      return read();
    });
    expect(calledElsewhere).toBe('at bind');
    expect(await new Promise((resolve) => setImmediate(() => resolve(read())))).toBe('at bind');
  });

  it('refuses a write with no context, as cls-hooked does', () => {
    expect(() => new AsyncContextNamespace('empty').set('segment', 'x')).toThrow(/No context available/);
  });
});
