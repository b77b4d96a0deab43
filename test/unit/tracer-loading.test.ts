import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const instrumentModule = fileURLToPath(
  new URL('../../functions/observability/instrument.ts', import.meta.url),
);

/**
 * Wraps a handler with `instrument`, calls it, and reports whether the X-Ray SDK's automatic mode
 * was set up, and on what (its namespace: cls-hooked's own, whose promise hook runs on every promise,
 * or the AsyncLocalStorage one), in a process of its own so that no other test has loaded the SDK.
 */
function instrumentedCall(tracingSetting: string | undefined) {
  const script = `
    const { instrument } = await import(${JSON.stringify(instrumentModule)});
    const handler = instrument(async (event) => ({ echoed: event.n }), { requestMetrics: false });
    const answer = await handler({ n: 7 }, { functionName: 'f', awsRequestId: 'r', getRemainingTimeInMillis: () => 1000 });
    const namespace = process.namespaces?.AWSXRay;
    console.log(JSON.stringify({ answer, xray: namespace?.constructor.name ?? false }));`;
  const env: NodeJS.ProcessEnv = { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT' };
  delete env.POWERTOOLS_TRACE_ENABLED;
  if (tracingSetting !== undefined) env.POWERTOOLS_TRACE_ENABLED = tracingSetting;
  const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env,
    encoding: 'utf8',
  });
  return JSON.parse(output.trim().split('\n').pop()!) as { answer: unknown; xray: string | false };
}

describe('the tracer', () => {
  it('is not loaded when tracing is switched off, so no promise hook runs', () => {
    expect(instrumentedCall('false')).toEqual({ answer: { echoed: 7 }, xray: false });
    expect(instrumentedCall(' FALSE ')).toEqual({ answer: { echoed: 7 }, xray: false });
  });

  it('is loaded with its context on AsyncLocalStorage, and the handler still answers, when tracing may be on', () => {
    expect(instrumentedCall(undefined)).toEqual({ answer: { echoed: 7 }, xray: 'AsyncContextNamespace' });
    expect(instrumentedCall('true')).toEqual({ answer: { echoed: 7 }, xray: 'AsyncContextNamespace' });
  });
});
