import { afterEach, describe, expect, it, vi } from 'vitest';
import { mapInFlight } from '../../functions/batch/in-flight';

/** Calls that end when the test says, counting how many have started. */
function gauge() {
  const pending: (() => void)[] = [];
  let started = 0;
  const run = async (item: number) => {
    started++;
    await new Promise<void>((resolve) => pending.push(resolve));
    return item * 10;
  };
  return { run, pending, started: () => started };
}

describe('mapInFlight', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps at most its width in flight and the results in item order', async () => {
    const calls = gauge();
    const mapped = mapInFlight([1, 2, 3, 4, 5], 2, calls.run);
    await Promise.resolve();
    expect(calls.started()).toBe(2);
    // Ending the second call first starts the third in its place, not two more.
    calls.pending[1]!();
    await vi.waitFor(() => expect(calls.started()).toBe(3));
    while (calls.pending.length < 5) {
      for (const resolve of calls.pending) resolve();
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const resolve of calls.pending) resolve();
    expect(await mapped).toEqual([10, 20, 30, 40, 50]);
  });

  it('widens to the wider width once its time has passed, and not before', async () => {
    vi.useFakeTimers();
    const calls = gauge();
    const mapped = mapInFlight([1, 2, 3, 4, 5, 6, 7, 8], 2, calls.run, { width: 5, afterMs: 1_000 });
    await vi.advanceTimersByTimeAsync(999);
    expect(calls.started()).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.started()).toBe(5);
    while (calls.pending.length < 8) {
      for (const resolve of calls.pending) resolve();
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(calls.started()).toBe(8);
    for (const resolve of calls.pending) resolve();
    expect(await mapped).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
  });

  it('leaves no timer behind when it ends before widening', async () => {
    vi.useFakeTimers();
    const mapped = mapInFlight([1, 2, 3], 1, async (item) => item, { width: 3, afterMs: 60_000 });
    expect(await mapped).toEqual([1, 2, 3]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('starts nothing after a failure, widening included, and throws the first failure', async () => {
    vi.useFakeTimers();
    let started = 0;
    const mapped = mapInFlight(
      [1, 2, 3, 4, 5, 6],
      2,
      async (item) => {
        started++;
        await new Promise((resolve) => setTimeout(resolve, 10));
        throw new Error(`item ${item} failed`);
      },
      { width: 6, afterMs: 100 },
    );
    const outcome = expect(mapped).rejects.toThrow('item 1 failed');
    await vi.advanceTimersByTimeAsync(1_000);
    await outcome;
    expect(started).toBe(2);
  });
});
