import { vi } from 'vitest';

/** An EMF document as Powertools prints it: the metrics' values and dimensions at the top level. */
export type Emf = Record<string, unknown> & {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
};

/** Runs `act` and returns the EMF documents it printed (with metrics enabled in the environment). */
export async function emfOf(act: () => unknown): Promise<Emf[]> {
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n'));
    return true;
  });
  try {
    await act();
  } finally {
    write.mockRestore();
  }
  return lines
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Emf)
    .filter((d) => '_aws' in d);
}
