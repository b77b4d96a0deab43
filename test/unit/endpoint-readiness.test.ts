import { describe, expect, it, vi } from 'vitest';
import { EndpointReadiness } from '../../functions/handlers/health/endpoint-status';

describe('EndpointReadiness', () => {
  it('reads the status once per TTL and again after it', async () => {
    let clock = 0;
    const read = vi.fn(async () => (clock < 20_000 ? 'Updating' : 'InService'));
    const readiness = new EndpointReadiness(read, 15_000, () => clock);
    expect(await readiness.status()).toBe('Updating');
    clock = 14_999;
    expect(await readiness.status()).toBe('Updating');
    expect(read).toHaveBeenCalledOnce();
    clock = 20_000;
    expect(await readiness.status()).toBe('InService');
    expect(read).toHaveBeenCalledTimes(2);
  });

  it('shares one read among concurrent requests and does not cache a failure', async () => {
    let fail = true;
    const read = vi.fn(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (fail) throw new Error('ThrottlingException');
      return 'InService';
    });
    const readiness = new EndpointReadiness(read, 15_000, () => 0);
    const results = await Promise.allSettled([readiness.status(), readiness.status()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(read).toHaveBeenCalledOnce();
    fail = false;
    expect(await readiness.status()).toBe('InService');
    expect(read).toHaveBeenCalledTimes(2);
  });
});
