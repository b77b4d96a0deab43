/**
 * Maps `items` through `run` with at most `width` calls in flight, keeping their order. After a call
 * fails no other starts, and the first failure is thrown once the calls in flight have settled, so
 * nothing runs on after the caller has moved on. With `widen`, up to `widen.width` calls are in
 * flight once `widen.afterMs` have passed.
 */
export async function mapInFlight<T, R>(
  items: readonly T[],
  width: number,
  run: (item: T, index: number) => Promise<R>,
  widen?: { readonly width: number; readonly afterMs: number },
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (!failure && next < items.length) {
      const index = next++;
      try {
        results[index] = await run(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const lanes: Promise<void>[] = [];
  const open = (count: number) => {
    for (let i = 0; i < count && !failure && next < items.length; i++) lanes.push(lane());
  };
  open(width);
  const timer =
    widen && widen.width > width ? setTimeout(() => open(widen.width - width), widen.afterMs) : undefined;
  try {
    // Lanes the timer opens while these are awaited join the list, and are awaited too.
    for (let i = 0; i < lanes.length; i++) await lanes[i];
  } finally {
    clearTimeout(timer);
  }
  if (failure) throw failure.error;
  return results;
}
