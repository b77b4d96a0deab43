import { describe, expect, it } from 'vitest';
import { redeliveryDelaySeconds } from '../../functions/batch/redelivery';

describe('redeliveryDelaySeconds', () => {
  it('waits 5 s after a first failed delivery, four times longer after each next, at most 300 s', () => {
    expect([1, 2, 3, 4, 5, 9].map(redeliveryDelaySeconds)).toEqual([5, 20, 80, 300, 300, 300]);
  });

  it('treats a missing or zero receive count as a first delivery', () => {
    expect(redeliveryDelaySeconds(0)).toBe(5);
  });

  it('spans minutes over the five deliveries the queue allows at least, far less than its half hour', () => {
    const waits = [1, 2, 3, 4].map(redeliveryDelaySeconds).reduce((a, b) => a + b, 0);
    expect(waits).toBeGreaterThanOrEqual(300);
    expect(waits).toBeLessThan(1800);
  });
});
