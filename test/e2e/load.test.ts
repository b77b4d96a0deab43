import { describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/load';

/**
 * The short form of `npm run load`: the same traffic and checks for 8 s at a modest rate. The heap
 * bound is looser than the 60 s run's 1.2: a short run does not amortize one-off growth (compiled
 * code, caches and socket pools filling on first use) over a small heap.
 */
describe('load against the local API (short form of npm run load)', () => {
  it('answers everything but the limited principal’s 429s, and keeps the heap bounded', async () => {
    const lines: string[] = [];
    const results = await runLoad({
      durationSeconds: 8,
      warmUpSeconds: 4,
      rate: 20,
      // The trial tier admits 60 a fixed minute, and any 8 s spans at most two windows: the measured
      // phase alone must send more than 120 so that a boundary inside it cannot admit them all (at
      // 10 a second, 40 in warm-up and 20 before a boundary, then 60 after it, were all admitted).
      limitedRate: 20,
      maxHeapRatio: 1.5,
      log: (line) => lines.push(line),
    });
    const report = lines.join('\n');

    expect(results.withinTier.noAnswer, report).toBe(0);
    expect(results.withinTier.errors, report).toBe(0);
    expect(results.limited.errors, report).toBe(0);
    // A status never answered has no count: 0, so that a failure prints the report.
    expect(results.limited.statuses['429'] ?? 0, report).toBeGreaterThan(0);
    expect(results.withinTier.requests, report).toBeGreaterThan(8 * 20 * 0.5);
    expect(results.withinTier.latencyMs.p99, report).toBeGreaterThan(0);
    expect(results.heap.ratio, report).toBeLessThanOrEqual(1.5);
  }, 90_000);
});
