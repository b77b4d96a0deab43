import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_DEFAULTS } from '../../functions/edge/rate-limiter';
import { platformToken } from '../../local/dev-credentials';
import { API_FUNCTION_CONCURRENCY } from '../../local/platform';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';

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
  let controlUrl: string;

  beforeAll(async () => {
    platform = await startPlatformProcess({ LOCAL_CONTROL_PORT: '0' });
    controlUrl = platform.controlUrl!;
  });

  afterAll(async () => {
    await platform?.stop();
  });

  /** The platform's error lines (a failing authorizer, a timed-out container), for a failure's message. */
  const platformErrors = () =>
    platform
      .output()
      .split('\n')
      .filter((line) => /authorizer failed|timed out|Error/.test(line))
      .slice(-30)
      .join('\n');

  const inferAs = (token: string) => async () => {
    const response = await fetch(`${platform.apiUrl}/v2/models/simple/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body,
    });
    return Object.assign(response, { text: await response.text() });
  };

  it('admits no more than the limit per window when waves of parallel requests outrun any one lease', async () => {
    // Prepare: the trial tier allows 60 a minute, so no lease holds more than 6 of them.
    const token = await platformToken({ sub: 'lease-e2e', tier: 'trial', scope: 'inference:invoke' });
    const infer = inferAs(token);
    // One request first authorizes the token: the gateway caches the decision (as API Gateway does
    // for the authorizer's TTL), so the waves test the limiter in the inference containers rather
    // than 25 cold authorizer invocations at once on a busy machine. It is admitted, so the waves'
    // own admissions in its window are at most the limit less one: still within the bound checked.
    expect((await infer()).status).toBe(200);

    // Act: three waves of 25 at once, 75 in all, spread by the gateway over the function's containers.
    const responses: (Response & { text: string })[] = [];
    for (let wave = 0; wave < 3; wave++)
      responses.push(...(await Promise.all(Array.from({ length: 25 }, infer))));

    // Assess: per window (the run may straddle two), at most the limit, and the rest refused with 429.
    // An admitted request that the model then answers too late for the backend timeout (a starved
    // machine) is a 504 (Triton's error shape: the message alone): the limiter admitted it, so it
    // counts as admitted.
    const admitted = new Map<string, number>();
    for (const response of responses) {
      const late = response.status === 504;
      expect(late || [200, 429].includes(response.status), `${response.text}\n${platformErrors()}`).toBe(
        true,
      );
      const remaining = Number(response.headers.get('x-ratelimit-remaining'));
      expect(remaining).toBeGreaterThanOrEqual(0);
      expect(remaining).toBeLessThan(TRIAL_LIMIT);
      const window = response.headers.get('x-ratelimit-reset')!;
      if (response.status !== 429) admitted.set(window, (admitted.get(window) ?? 0) + 1);
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
      expect(responses.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(75 - (TRIAL_LIMIT - 1));
  }, 120_000);

  it('admits a bounded few, not everyone, while every counter write is throttled', async () => {
    // Prepare: every UpdateItem answered with DynamoDB's throttling error, below the SDK.
    const token = await platformToken({ sub: 'lease-throttled', tier: 'trial', scope: 'inference:invoke' });
    const control = (method: string, json?: object) =>
      fetch(`${controlUrl}/local/faults/dynamodb`, {
        method,
        headers: { 'Content-Type': 'application/json' },
        ...(json ? { body: JSON.stringify(json) } : {}),
      });
    expect((await control('PUT', { throttleRate: 1, operations: ['UpdateItem'] })).status).toBe(200);
    try {
      // Act: three waves of 20 at once, spread over the function's containers.
      const responses: (Response & { text: string })[] = [];
      for (let wave = 0; wave < 3; wave++)
        responses.push(...(await Promise.all(Array.from({ length: 20 }, inferAs(token)))));

      // Assess: each container admits at most its failure allowance per window and refuses the rest.
      // As above, an admitted request the model answers too late on a starved machine is a 504.
      const allowance = Math.ceil(LEASE_DEFAULTS.failureShare * TRIAL_LIMIT);
      const admitted = new Map<string, number>();
      for (const response of responses) {
        expect([200, 429, 504], response.text).toContain(response.status);
        const window = response.headers.get('x-ratelimit-reset')!;
        if (response.status !== 429) admitted.set(window, (admitted.get(window) ?? 0) + 1);
      }
      for (const count of admitted.values())
        expect(count).toBeLessThanOrEqual(API_FUNCTION_CONCURRENCY * allowance);
      expect(responses.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(
        responses.length - 2 * API_FUNCTION_CONCURRENCY * allowance,
      );
    } finally {
      const cleared = (await (await control('DELETE')).json()) as { stats: { dynamodbThrottled: number } };
      expect(cleared.stats.dynamodbThrottled).toBeGreaterThan(0);
    }
  }, 120_000);
});
