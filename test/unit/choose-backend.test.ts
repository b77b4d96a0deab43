import { describe, expect, it } from 'vitest';
import { chooseBackend } from '../../functions/inference/inference-service';

const backends = [
  { endpointName: 'a', weight: 90 },
  { endpointName: 'b', weight: 10 },
];

describe('chooseBackend', () => {
  it.each([
    [0, 'a'],
    [0.899, 'a'],
    [0.9, 'b'],
    [0.999999, 'b'],
  ])('maps random %f to backend %s by weight', (point, expected) => {
    expect(chooseBackend(backends, () => point).endpointName).toBe(expected);
  });

  it('spreads load in proportion to weight', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 48_271) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const picks = Array.from({ length: 10_000 }, () => chooseBackend(backends, random).endpointName);
    const share = picks.filter((p) => p === 'b').length / picks.length;
    expect(share).toBeGreaterThan(0.08);
    expect(share).toBeLessThan(0.12);
  });
});
