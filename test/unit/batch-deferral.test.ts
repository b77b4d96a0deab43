import { describe, expect, it } from 'vitest';
import { deferralDelay } from '../../functions/batch/worker';

const budget = { budgetSeconds: 900 };
const since = 1_000_000;

describe('how long a chunk waits for its model before the next try', () => {
  it('doubles from one second with each deferral', () => {
    expect([1, 2, 3, 4, 5].map((n) => deferralDelay(n, 1, since, since, budget))).toEqual([1, 2, 4, 8, 16]);
  });

  it('waits no less than the circuits say they stay open', () => {
    expect(deferralDelay(1, 25, since, since, budget)).toBe(25);
  });

  it('waits at most five minutes, so a cancel or a recovered model is seen soon', () => {
    expect(deferralDelay(20, 1, since, since, budget)).toBe(300);
    expect(deferralDelay(1, 3600, since, since, budget)).toBe(300);
  });

  it('tries last when the budget ends, and at once once it has', () => {
    expect(deferralDelay(10, 1, since, since + 898_500, budget)).toBe(2);
    expect(deferralDelay(10, 1, since, since + 900_000, budget)).toBe(0);
    expect(deferralDelay(10, 1, since, since + 2_000_000, budget)).toBe(0);
  });
});
