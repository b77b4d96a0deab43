import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PlatformControl, startPlatformControl } from '../../local/aws/platform-control';
import { SdkFaults } from '../../local/aws/sdk-faults';

describe('platform control stats', () => {
  let control: PlatformControl;

  beforeAll(async () => {
    control = await startPlatformControl({
      faults: new SdkFaults(),
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
});
