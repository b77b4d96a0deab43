/**
 * Maps `items` through `run` with at most `width` calls in flight, keeping their order. After a call
 * fails no other starts, and the first failure is thrown once the calls in flight have settled, so
 * nothing runs on after the caller has moved on.
 */
export async function mapInFlight<T, R>(
  items: readonly T[],
  width: number,
  run: (item: T, index: number) => Promise<R>,
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
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (failure) throw failure.error;
  return results;
}
