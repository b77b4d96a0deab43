import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const instrumentModule = fileURLToPath(
  new URL('../../functions/observability/instrument.ts', import.meta.url),
);

/** The X-Ray daemon's side: every segment document the SDK sends over UDP. */
const documents: { name: string; annotations?: Record<string, unknown> }[] = [];
const daemon = createSocket('udp4');
daemon.on('message', (message) => {
  // Each datagram is a header line, then one segment document.
  const [, body] = message.toString('utf8').split('\n');
  if (body) documents.push(JSON.parse(body));
});
beforeAll(() => new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve)));
afterAll(() => new Promise<void>((resolve) => daemon.close(() => resolve())));

/**
 * Invokes an instrumented handler once per entry of `sampled` in a process set up as Lambda sets up
 * a function with active tracing, each invocation with its own trace header, and returns the
 * handler subsegments the daemon received.
 */
async function handlerSubsegments(sampled: boolean[]) {
  documents.length = 0;
  const script = `
    const { instrument } = await import(${JSON.stringify(instrumentModule)});
    const handler = instrument(async () => 'ok', { requestMetrics: false });
    const context = { functionName: 'f', awsRequestId: 'r', getRemainingTimeInMillis: () => 1000 };
    for (const [i, sampled] of ${JSON.stringify(sampled)}.entries()) {
      const id = String(i + 1).padStart(24, '0');
      process.env._X_AMZN_TRACE_ID = 'Root=1-5759e988-' + id + ';Parent=53995c3f42cd8ad8;Sampled=' + (sampled ? 1 : 0);
      await handler({}, context);
    }`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_SERVICE_NAME: 'traced',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    LAMBDA_TASK_ROOT: '/tmp',
    _HANDLER: 'index.handler',
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}`,
    AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
  };
  delete env.POWERTOOLS_TRACE_ENABLED;
  await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env,
  });
  // Datagrams to 127.0.0.1 arrive at once; give the event loop a turn to read them.
  await new Promise((resolve) => setTimeout(resolve, 200));
  return documents
    .filter((d) => d.name === '## index.handler')
    .map((d) => ({ coldStart: d.annotations?.ColdStart, service: d.annotations?.Service }));
}

describe('the handler subsegment', () => {
  it('is sent for sampled invocations only, marked cold on the first invocation alone', async () => {
    expect(await handlerSubsegments([true, false, true, false])).toEqual([
      { coldStart: true, service: 'traced' },
      { coldStart: false, service: 'traced' },
    ]);
  });

  it('is not marked cold on a sampled invocation after an unsampled cold one', async () => {
    expect(await handlerSubsegments([false, false, true])).toEqual([{ coldStart: false, service: 'traced' }]);
  });
});
