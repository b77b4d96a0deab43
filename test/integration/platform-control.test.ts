import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PlatformControl, startPlatformControl } from '../../local/aws/platform-control';
import { SdkFaults } from '../../local/aws/sdk-faults';

describe('platform control stats', () => {
  let control: PlatformControl;

  beforeAll(async () => {
    control = await startPlatformControl({
      faults: new SdkFaults(),
      functions: ['inference', 'batch-worker'],
      memory: () => ({ 'batch-worker': 42 }),
      recycle: async () => undefined,
    });
  });

  afterAll(async () => {
    await control?.close();
  });

  const stats = async () =>
    ((await (await fetch(`${control.url}/local/faults`)).json()) as { stats: Record<string, unknown> }).stats;

  it("gives the process's CPU time, every thread together, with its peak memory", async () => {
    const cpu = () => {
      const { user, system } = process.cpuUsage();
      return user + system;
    };
    const before = cpu();
    const { cpuMicros, peakMemoryBytes, peakRssBytes } = await stats();
    const after = cpu();

    expect(cpuMicros).toBeGreaterThanOrEqual(before);
    expect(cpuMicros).toBeLessThanOrEqual(after);
    expect(peakMemoryBytes).toEqual({ 'batch-worker': 42 });
    expect(peakRssBytes).toBeGreaterThan(0);
  });

  const put = async (kind: string, body: unknown) => {
    const response = await fetch(`${control.url}/local/faults/${kind}`, {
      method: 'PUT',
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { error?: string } };
  };

  it('refuses a crash plan naming no function, listing the ones there are', async () => {
    expect(await put('crash', { function: 'nope' })).toEqual({
      status: 400,
      body: { error: "invalid crash fault 'function': no function 'nope'; one of inference, batch-worker" },
    });
    expect((await put('crash', { function: 'batch-worker' })).status).toBe(200);
    await fetch(`${control.url}/local/faults`, { method: 'DELETE' });
  });

  it('answers an invalid plan in one line naming the field', async () => {
    expect(await put('dynamodb', { throttleRate: 2 })).toEqual({
      status: 400,
      body: { error: "invalid dynamodb fault 'throttleRate': Too big: expected number to be <=1" },
    });
    expect(await put('crash', 'nope')).toEqual({
      status: 400,
      body: { error: "invalid crash fault 'body': Invalid input: expected object, received string" },
    });
  });
});
