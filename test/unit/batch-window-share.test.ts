import { describe, expect, it } from 'vitest';
import { shareOf } from '../../functions/batch/fan-out';

describe("an owner's window shared between its jobs", () => {
  it('gives a job alone the whole window', () => {
    expect(shareOf('a', ['a'], 3)).toBe(3);
    // A job not yet listed (its fan-out ran before pacing by owner) counts itself in.
    expect(shareOf('a', [], 3)).toBe(3);
  });

  it.each([
    [['a', 'b'], 3, [2, 1]],
    [['a', 'b', 'c'], 3, [1, 1, 1]],
    [['a', 'b', 'c'], 7, [3, 2, 2]],
    [['a', 'b', 'c', 'd', 'e'], 3, [1, 1, 1, 0, 0]],
  ])('splits the window between %j (window %d) so the shares add up to it', (jobs, window, shares) => {
    expect(jobs.map((job) => shareOf(job, jobs, window))).toEqual(shares);
    expect(shares.reduce((a, b) => a + b, 0)).toBe(window);
  });
});
