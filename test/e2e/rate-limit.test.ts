import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npmToken, type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

const TRIAL_LIMIT = 60;
const input = Array.from({ length: 16 }, (_, i) => i);
const body = JSON.stringify({
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: input },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: input },
  ],
});

describe('realtime rate limit through several containers (npm start)', () => {
  let platform: PlatformProcess;

  beforeAll(async () => {
    platform = await startPlatformProcess();
  });

  afterAll(async () => {
    await platform?.stop();
  });

  it('admits no more than the limit per window when waves of parallel requests outrun any one lease', async () => {
    // Prepare: the trial tier allows 60 a minute, so no lease holds more than 6 of them.
    const token = await npmToken('--sub', 'lease-e2e', '--tier', 'trial', '--scope', 'inference:invoke');
    const infer = async () => {
      const response = await fetch(`${platform.apiUrl}/v2/models/simple/infer`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body,
      });
      return Object.assign(response, { text: await response.text() });
    };

    // Act: three waves of 25 at once, 75 in all, spread by the gateway over the function's containers.
    const responses: (Response & { text: string })[] = [];
    for (let wave = 0; wave < 3; wave++)
      responses.push(...(await Promise.all(Array.from({ length: 25 }, infer))));

    // Assess: per window (the run may straddle two), at most the limit, and the rest refused with 429.
    const admitted = new Map<string, number>();
    for (const response of responses) {
      expect([200, 429], response.text).toContain(response.status);
      const remaining = Number(response.headers.get('x-ratelimit-remaining'));
      expect(remaining).toBeGreaterThanOrEqual(0);
      expect(remaining).toBeLessThan(TRIAL_LIMIT);
      const window = response.headers.get('x-ratelimit-reset')!;
      if (response.status === 200) admitted.set(window, (admitted.get(window) ?? 0) + 1);
      else {
        expect(remaining).toBe(0);
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    }
    for (const count of admitted.values()) expect(count).toBeLessThanOrEqual(TRIAL_LIMIT);
    // Leases left unspent in a container only lower admissions; they must not starve the window.
    expect([...admitted.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(TRIAL_LIMIT / 2);
    const windows = new Set(responses.map((r) => r.headers.get('x-ratelimit-reset')));
    if (windows.size === 1)
      expect(responses.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(75 - TRIAL_LIMIT);
  }, 120_000);
});
