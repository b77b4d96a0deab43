/** Seeded picks for the local platform's fault injection, so a run with the same seed repeats. */

/** A number in [0, 1) from a seed and a draw's number (splitmix32-style mixing). */
export function unitOf(seed: number, n: number): number {
  let x = (Math.imul(seed | 0, 0x9e3779b9) + Math.imul(n | 0, 0x85ebca6b)) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return ((x ^ (x >>> 15)) >>> 0) / 2 ** 32;
}
