import { describe, expect, it } from 'vitest';
import { backendsInOrder, pickWeighted, routingPoint } from '../../functions/inference/service';

const backends = [
  { endpointName: 'a', weight: 90 },
  { endpointName: 'b', weight: 10 },
];

describe('pickWeighted', () => {
  it.each([
    [0, 'a'],
    [0.899, 'a'],
    [0.9, 'b'],
    [0.999999, 'b'],
  ])('maps point %f to backend %s by weight', (point, expected) => {
    expect(pickWeighted(backends, point).endpointName).toBe(expected);
  });
});

describe('backendsInOrder', () => {
  it('puts the weighted choice first and the others after it by weight', () => {
    const three = [...backends, { endpointName: 'c', weight: 50 }];
    expect(backendsInOrder(three, () => 0.99).map((b) => b.endpointName)).toEqual(['c', 'a', 'b']);
    expect(backendsInOrder(three, () => 0).map((b) => b.endpointName)).toEqual(['a', 'c', 'b']);
  });
});

describe('routingPoint', () => {
  it('gives the same point for the same key and spreads keys evenly', () => {
    expect(routingPoint('req-1')).toBe(routingPoint('req-1'));
    const points = Array.from({ length: 10_000 }, (_, i) => routingPoint(`request-${i}`));
    const share = points.filter((p) => pickWeighted(backends, p).endpointName === 'b').length / points.length;
    // A 90/10 canary split holds within a few percent over many requests.
    expect(share).toBeGreaterThan(0.08);
    expect(share).toBeLessThan(0.12);
    expect(points.every((p) => p >= 0 && p < 1)).toBe(true);
  });
});
