import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const instrumentModule = fileURLToPath(
  new URL('../../functions/observability/instrument.ts', import.meta.url),
);
const tracerModule = fileURLToPath(new URL('../../functions/observability/tracer.ts', import.meta.url));

/** The X-Ray daemon's side: every segment document the SDK sends over UDP. */
interface SegmentDocument {
  name: string;
  id: string;
  trace_id: string;
  parent_id?: string;
  annotations?: Record<string, unknown>;
}
const documents: SegmentDocument[] = [];
const daemon = createSocket('udp4');
daemon.on('message', (message) => {
  // Each datagram is a header line, then one segment document.
  const [, body] = message.toString('utf8').split('\n');
  if (body) documents.push(JSON.parse(body));
});
/** DynamoDB's side, for the handler's one call: `ListTables`, answered with no tables. */
const dynamodb = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
    response.end('{"TableNames":[]}');
  });
});
beforeAll(async () => {
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => dynamodb.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise<void>((resolve) => daemon.close(() => resolve()));
  await new Promise<void>((resolve) => dynamodb.close(() => resolve()));
});

/**
 * Invokes an instrumented handler once per entry of `sampled` in a process set up as Lambda sets up
 * a function with active tracing, each invocation with its own trace header, and returns the
 * handler subsegments the daemon received.
 */
async function handlerSubsegments(sampled: boolean[]) {
  const sent = await invokeTraced(sampled, `async () => 'ok'`);
  return sent
    .filter((d) => d.name === '## index.handler')
    .map((d) => ({ coldStart: d.annotations?.ColdStart, service: d.annotations?.Service }));
}

/** Runs `handlerSource` as an instrumented handler, once per entry of `sampled`; the documents sent. */
async function invokeTraced(sampled: boolean[], handlerSource: string) {
  documents.length = 0;
  const script = `
    const { instrument } = await import(${JSON.stringify(instrumentModule)});
    const { tracer } = await import(${JSON.stringify(tracerModule)});
    const { DynamoDBClient, ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
    const dynamodb = tracer.captureAWSv3Client(new DynamoDBClient({}));
    const handler = instrument(${handlerSource}, { requestMetrics: false });
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
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_DYNAMODB: `http://127.0.0.1:${(dynamodb.address() as AddressInfo).port}`,
  };
  delete env.POWERTOOLS_TRACE_ENABLED;
  await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env,
  });
  // Datagrams to 127.0.0.1 arrive at once; give the event loop a turn to read them.
  await new Promise((resolve) => setTimeout(resolve, 200));
  return [...documents];
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

describe('the AWS call subsegment', () => {
  it("is sent for sampled invocations only, under that invocation's handler subsegment", async () => {
    const sent = await invokeTraced(
      [true, false, false, true],
      `async () => (await dynamodb.send(new ListTablesCommand({}))).TableNames`,
    );
    const handlers = sent.filter((d) => d.name === '## index.handler');
    const calls = sent.filter((d) => d.name === 'DynamoDB');
    expect(handlers.map((d) => d.trace_id)).toEqual([
      '1-5759e988-000000000000000000000001',
      '1-5759e988-000000000000000000000004',
    ]);
    expect(calls.map((d) => ({ trace: d.trace_id, parent: d.parent_id }))).toEqual(
      handlers.map((d) => ({ trace: d.trace_id, parent: d.id })),
    );
  });
});
