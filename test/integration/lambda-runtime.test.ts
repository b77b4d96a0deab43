import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FunctionOutputLine } from '../../local/aws/function-output';
import {
  type LambdaFunctionConfig,
  LambdaRuntime,
  LambdaRuntimeError,
  LambdaTimeoutError,
} from '../../local/aws/lambda-runtime';
import type { StatefulEvent, StatefulResult } from '../helpers/fixture-handlers/stateful';

const STATEFUL = 'test/helpers/fixture-handlers/stateful.ts';

describe('local Lambda runtime', () => {
  let runtime: LambdaRuntime | undefined;
  afterEach(async () => {
    await runtime?.close();
    runtime = undefined;
  });

  function define(overrides: Partial<LambdaFunctionConfig> = {}) {
    runtime ??= new LambdaRuntime({ echo: false });
    const fn = runtime.define({ name: 'stateful', entry: STATEFUL, timeoutMs: 20_000, ...overrides });
    return {
      fn,
      invoke: (event: StatefulEvent = {}) => fn.invoke<StatefulResult>(event),
    };
  }

  it('runs one invocation at a time per container: concurrent invocations get their own containers and module state', async () => {
    // Prepare
    const { fn, invoke } = define({ env: { POWERTOOLS_SERVICE_NAME: 'stateful-service' } });
    // Act
    const [a, b] = await Promise.all([invoke({ delayMs: 500 }), invoke({ delayMs: 500 })]);
    // Assess
    expect(a!.containerId).not.toBe(b!.containerId);
    expect([a!.invocations, b!.invocations]).toEqual([1, 1]);
    expect(fn.containerCount).toBe(2);
    expect(a).toMatchObject({ functionName: 'stateful', serviceName: 'stateful-service' });
    expect(a!.requestId).not.toBe(b!.requestId);
    expect(a!.remainingMs).toBeGreaterThan(0);
    expect(a!.remainingMs).toBeLessThanOrEqual(20_000);
  });

  it('reuses a warm container for the next invocation, with its module state', async () => {
    // Prepare
    const { fn, invoke } = define();
    const first = await invoke();
    // Act
    const second = await invoke();
    // Assess
    expect(second.containerId).toBe(first.containerId);
    expect(second.invocations).toBe(2);
    expect(fn.containerCount).toBe(1);
  });

  it("reports the most memory a function's container held at the end of an invocation", async () => {
    // Prepare
    const { fn, invoke } = define();
    await invoke();
    const idle = fn.peakMemoryBytes;
    // Act
    await invoke({ holdBytes: 64 * 1024 * 1024 });
    // Assess
    expect(idle).toBeGreaterThan(0);
    expect(idle).toBeLessThan(64 * 1024 * 1024);
    expect(fn.peakMemoryBytes).toBeGreaterThanOrEqual(idle + 64 * 1024 * 1024);
  });

  it('queues invocations beyond the maximum concurrency until a container is free', async () => {
    // Prepare
    const { fn, invoke } = define({ maxConcurrency: 2 });
    // Act
    const results = await Promise.all(Array.from({ length: 5 }, () => invoke({ delayMs: 200 })));
    // Assess
    expect(new Set(results.map((r) => r.containerId)).size).toBe(2);
    expect(results.map((r) => r.invocations).sort()).toEqual([1, 1, 2, 2, 3]);
    expect(fn.containerCount).toBe(2);
  });

  it("fails an invocation with the handler's error and keeps the container", async () => {
    // Prepare
    const { invoke } = define();
    const before = await invoke();
    // Act
    const failure = await invoke({ fail: 'bad input' }).catch((error: unknown) => error);
    // Assess
    expect(failure).toBeInstanceOf(Error);
    expect(failure).toMatchObject({ name: 'TypeError', message: 'bad input' });
    expect((failure as Error).stack).toContain('stateful.ts');
    const after = await invoke();
    expect(after.containerId).toBe(before.containerId);
    expect(after.invocations).toBe(3);
  });

  it('fails only the invocation whose container exits, and serves the next one from a new container', async () => {
    // Prepare
    const { fn, invoke } = define();
    const before = await invoke();
    // Act
    const [crashed, neighbour] = await Promise.allSettled([invoke({ exit: 1 }), invoke({ delayMs: 500 })]);
    // Assess
    expect(crashed.status).toBe('rejected');
    expect((crashed as PromiseRejectedResult).reason).toBeInstanceOf(LambdaRuntimeError);
    expect((crashed as PromiseRejectedResult).reason).toMatchObject({ name: 'Runtime.ExitError' });
    expect(neighbour.status).toBe('fulfilled');
    await vi.waitFor(() => expect(fn.containerCount).toBe(1));
    const after = await invoke();
    expect(after.containerId).not.toBe(before.containerId);
    expect(after.invocations).toBe(2); // the neighbour's container, warm
  });

  it('fails an invocation whose container throws an uncaught exception', async () => {
    // Prepare
    const { invoke } = define();
    const before = await invoke();
    // Act
    const failure = await invoke({ uncaught: 'escaped the handler' }).catch((error: unknown) => error);
    // Assess
    expect(failure).toMatchObject({ name: 'Runtime.ExitError' });
    expect((failure as Error).message).toContain('escaped the handler');
    expect((await invoke()).containerId).not.toBe(before.containerId);
  });

  it('terminates the container of an invocation that times out', async () => {
    // Prepare
    const { invoke } = define({ timeoutMs: 1_000 });
    const before = await invoke();
    // Act
    const failure = await invoke({ delayMs: 10_000 }).catch((error: unknown) => error);
    // Assess
    expect(failure).toBeInstanceOf(LambdaTimeoutError);
    expect((failure as Error).message).toContain('timed out after 1.00 seconds');
    const after = await invoke();
    expect(after.containerId).not.toBe(before.containerId);
    expect(after.invocations).toBe(1);
  });

  it('fails invocations of a function whose init fails', async () => {
    // Prepare
    const { invoke } = define({ name: 'broken', entry: 'test/helpers/fixture-handlers/broken.ts' });
    // Act
    const failure = await invoke().catch((error: unknown) => error);
    // Assess
    expect(failure).toMatchObject({ name: 'Runtime.InitError' });
    expect((failure as Error).message).toContain('missing configuration');
  });

  it("fails invocations of a function whose module does not build, with esbuild's message", async () => {
    // Prepare: a handler importing a module that does not exist, as a bundle that cannot load
    const entry = join(mkdtempSync(join(tmpdir(), 'unbuildable-')), 'handler.ts');
    writeFileSync(
      entry,
      "import { missing } from './missing-module';\nexport const handler = () => missing;\n",
    );
    const { invoke } = define({ name: 'unbuildable', entry });
    // Act
    const failure = await invoke().catch((error: unknown) => error);
    // Assess
    expect(failure).toMatchObject({ name: 'Runtime.InitError' });
    expect((failure as Error).message).toContain('Could not resolve "./missing-module"');
  });

  it('gives every invocation after recycle() a cold container, including those busy while it ran', async () => {
    // Prepare
    const { fn, invoke } = define();
    const [idle, busy] = await Promise.all([invoke({ delayMs: 300 }), invoke({ delayMs: 300 })]);
    const running = invoke({ delayMs: 1_000 });
    // Act
    await runtime!.recycle();
    // Assess
    const during = await running;
    expect([idle.containerId, busy.containerId]).toContain(during.containerId);
    expect(during.invocations).toBe(2);
    const after = await Promise.all([invoke({ delayMs: 300 }), invoke({ delayMs: 300 })]);
    for (const result of after) {
      expect([idle.containerId, busy.containerId]).not.toContain(result.containerId);
      expect(result.invocations).toBe(1);
    }
    expect(fn.containerCount).toBe(2);
  });

  it("publishes every line a container prints with its function's name, with EMF documents parsed", async () => {
    // Prepare
    const { invoke } = define({ name: 'printer' });
    const lines: FunctionOutputLine[] = [];
    runtime!.output.subscribe((line) => lines.push(line));
    const emf = { _aws: { Timestamp: 1, CloudWatchMetrics: [] }, Requests: 1 };
    // Act
    await invoke({ print: ['plain line', JSON.stringify(emf), '{"not":"emf"}'] });
    // Assess
    await vi.waitFor(() => expect(lines).toHaveLength(3));
    expect(lines.map((l) => [l.functionName, l.line, l.emf])).toEqual([
      ['printer', 'plain line', undefined],
      ['printer', JSON.stringify(emf), emf],
      ['printer', '{"not":"emf"}', undefined],
    ]);
    expect(lines.every((l) => typeof l.at === 'number')).toBe(true);
  });

  it("keeps Powertools metrics of concurrent invocations apart, each with its function's service", async () => {
    // Prepare
    runtime = new LambdaRuntime({ echo: false, env: { POWERTOOLS_METRICS_DISABLED: 'false' } });
    const fn = runtime.define({
      name: 'metrics',
      entry: 'test/helpers/fixture-handlers/metrics.ts',
      env: { POWERTOOLS_SERVICE_NAME: 'inference', POWERTOOLS_METRICS_NAMESPACE: 'Test' },
    });
    const documents: Record<string, unknown>[] = [];
    runtime.output.subscribe((line) => {
      if (line.functionName === 'metrics' && line.emf) documents.push(line.emf);
    });
    // Act
    await Promise.all([
      fn.invoke({ model: 'a', delayMs: 300 }),
      fn.invoke({ model: 'b', delayMs: 600 }),
      fn.invoke({ model: 'c', delayMs: 10 }),
    ]);
    // Assess
    await vi.waitFor(() => expect(documents).toHaveLength(3));
    expect(documents.map((d) => [d.model, d.service, d.Requests]).sort()).toEqual([
      ['a', 'inference', 1],
      ['b', 'inference', 1],
      ['c', 'inference', 1],
    ]);
  });
});
