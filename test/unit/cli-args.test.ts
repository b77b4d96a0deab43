import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { retryAfterMs } from '../../cli/api-client';
import {
  DEFAULT_API_URL,
  parseCommandLine,
  parseInlineTensor,
  parseJsonDocument,
  parseJsonl,
  resolveConfig,
} from '../../cli/args';
import { UsageError } from '../../cli/errors';
import { run } from '../../cli/main';
import { ProgressReporter, progressBar, UploadProgress } from '../../cli/progress';
import { API_REQUEST_BODY_BYTES } from '../../contracts/lambda-limits';
import { fakeIo } from '../helpers/cli-run';

const dir = mkdtempSync(join(tmpdir(), 'cli-args-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const irisItem = (id: string) =>
  JSON.stringify({ id, inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

/** A fetch that answers from a script and records what it was asked. */
function fakeFetch(replies: Reply[]) {
  const calls: { method: string; url: string; headers: Record<string, string>; body?: string }[] = [];
  const fake = (async (url: URL, init: RequestInit) => {
    calls.push({
      method: init.method!,
      url: url.toString(),
      headers: init.headers as Record<string, string>,
      ...(init.body ? { body: init.body as string } : {}),
    });
    const reply = replies.shift() ?? { status: 500, body: { error: 'no more replies' } };
    return new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
      status: reply.status,
      headers: { 'Content-Type': 'application/json', ...reply.headers },
    });
  }) as unknown as typeof fetch;
  return { fetch: fake, calls };
}

const job = (status: string, done: number, failed = 0) => ({
  jobId: 'job-1',
  model: 'iris',
  version: '1',
  status,
  total: 10,
  succeeded: done - failed,
  failed,
  cancelled: 0,
});

/** Runs the CLI with a scripted API, instant sleeps and a clock that the sleeps advance. */
async function runWith(argv: string[], replies: Reply[] = [], env?: NodeJS.ProcessEnv) {
  const { io, out } = fakeIo(env ?? { INFERENCE_API_TOKEN: 'secret-token' });
  const api = fakeFetch(replies);
  let clock = 0;
  const sleeps: number[] = [];
  const code = await run(argv, io, {
    fetch: api.fetch,
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
  });
  return { code, ...out, calls: api.calls, sleeps };
}

describe('parseCommandLine', () => {
  it('splits a group command into its arguments and flags, with global flags first or later', () => {
    expect(
      parseCommandLine(['--url', 'http://x', 'batch', 'submit', 'iris', '--file', 'a.jsonl', '--wait']),
    ).toEqual({
      command: 'batch submit',
      args: { model: 'iris' },
      values: { url: 'http://x', file: ['a.jsonl'], wait: true },
    });
    expect(
      parseCommandLine(['infer', 'iris', '--input', 'A:FP32:1:1', '--input', 'B:FP32:1:2']),
    ).toMatchObject({
      command: 'infer',
      values: { input: ['A:FP32:1:1', 'B:FP32:1:2'] },
    });
  });

  it('answers --help at every level', () => {
    expect(parseCommandLine(['--help'])).toEqual({ help: expect.stringContaining('batch submit') });
    expect(parseCommandLine(['help'])).toEqual({ help: expect.stringContaining('Exit codes') });
    expect(parseCommandLine(['batch', '--help'])).toEqual({
      help: expect.stringContaining('batch wait <jobId>'),
    });
    expect(parseCommandLine(['models', 'register', '-h'])).toEqual({
      help: expect.stringContaining('--file version.json'),
    });
    // `help <command>` is the command's own help, as under npx, where `--help` may go to npx.
    expect(parseCommandLine(['help', 'models', 'register'])).toEqual(
      parseCommandLine(['models', 'register', '--help']),
    );
    expect(parseCommandLine(['help', 'batch'])).toEqual(parseCommandLine(['batch', '--help']));
  });

  it.each([
    [[], /no command/],
    [['deploy'], /unknown command 'deploy'/],
    [['batch'], /'batch' needs a subcommand: submit, status/],
    [['batch', 'explode'], /unknown command 'batch explode'/],
    [['batch', 'status'], /missing <jobId>/],
    [['batch', 'status', 'a', 'b'], /unexpected argument 'b'/],
    [['infer', 'iris', '--bogus'], /^unknown option '--bogus'$/],
    [['models', 'list', '--url'], /--url/],
    [['batch', 'status', ''], /<jobId> is empty/],
    [['models', 'delete', 'iris', ''], /<version> is empty/],
    [['help', 'deploy'], /unknown command 'deploy'/],
    [['models', 'get', 'iris', '--version', ''], /--version is empty/],
    [['batch', 'submit', 'iris', '--file', 'a.jsonl', '--file', ''], /--file is empty/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(UsageError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });
});

describe('parseJsonDocument', () => {
  it('reads a document that starts with a byte order mark, as a JSONL file may', () => {
    expect(parseJsonDocument('\uFEFF{"inputs":[]}', 'request.json')).toEqual({ inputs: [] });
    expect(() => parseJsonDocument('\uFEFF{', 'request.json')).toThrow(/request.json: not valid JSON/);
  });
});

describe('resolveConfig', () => {
  it('takes flags over the environment, and the local platform by default', () => {
    const env = { INFERENCE_API_URL: 'https://env.example/', INFERENCE_API_TOKEN: 'env-token' };
    expect(resolveConfig({}, env)).toEqual({ url: 'https://env.example', token: 'env-token' });
    expect(resolveConfig({ url: 'http://flag:1', token: 'flag-token' }, env)).toEqual({
      url: 'http://flag:1',
      token: 'flag-token',
    });
    expect(resolveConfig({}, {})).toEqual({ url: DEFAULT_API_URL });
  });

  it('refuses a URL that is not http(s)', () => {
    expect(() => resolveConfig({ url: 'not a url' }, {})).toThrow(/is not a URL/);
    expect(() => resolveConfig({ url: 'ftp://x' }, {})).toThrow(/must be http or https/);
  });
});

describe('parseInlineTensor', () => {
  it('reads NAME:DATATYPE:SHAPE:VALUES', () => {
    expect(parseInlineTensor('FEATURES:FP32:1,4:5.1,3.5,1.4,0.2')).toEqual({
      name: 'FEATURES',
      datatype: 'FP32',
      shape: [1, 4],
      data: [5.1, 3.5, 1.4, 0.2],
    });
    expect(parseInlineTensor('M:bool:2:true,0').data).toEqual([true, false]);
    expect(parseInlineTensor('S:BYTES:1:a:b')).toMatchObject({ data: ['a:b'] });
    expect(parseInlineTensor('X:INT32::7')).toMatchObject({ shape: [], data: [7] });
  });

  it.each([
    ['FEATURES:FP32:1,4', /must be NAME:DATATYPE:SHAPE:VALUES/],
    ['F:FLOAT:1:1', /unknown datatype 'FLOAT'/],
    ['F:FP32:1,x:1', /shape '1,x'/],
    ['F:FP32:1,4:1,2,3', /shape \[1,4\] needs 4 values, got 3/],
    ['F:INT32:2:1,2.5', /value 1 '2.5' must be an integer for INT32/],
    ['F:FP32:1:abc', /value 0 'abc' is not a number/],
    ['F:BOOL:1:yes', /must be true or false/],
  ])('refuses %s', (spec, message) => {
    expect(() => parseInlineTensor(spec)).toThrow(message);
  });
});

describe('parseJsonl', () => {
  it('reads one batch item per line and skips blank lines', () => {
    expect(parseJsonl(`${irisItem('a')}\n\n${irisItem('b')}\n`, 'items.jsonl')).toMatchObject([
      { id: 'a' },
      { id: 'b' },
    ]);
  });

  it.each([
    [`${irisItem('a')}\n${irisItem('b')}\n{"inputs": [1],\n`, /^items\.jsonl:3: not valid JSON/],
    [`${irisItem('a')}\n{"id": "b"}\n`, /^items\.jsonl:2: not a batch item \('inputs' /],
    [`${irisItem('a')}\n\n{"id": "", "inputs": [1]}\n`, /^items\.jsonl:3: not a batch item \('id' /],
    ['\n  \n', /no items/],
  ])('names the line of %j', (text, message) => {
    expect(() => parseJsonl(text, 'items.jsonl')).toThrow(message);
  });
});

describe('run: usage errors exit 2 before any request', () => {
  it.each([
    [['explode']],
    [['infer', 'iris']],
    [['infer', 'iris', '--file', 'x.json', '--input', 'A:FP32:1:1']],
    [['infer', 'iris', '--file', join(dir, 'missing.json')]],
    [['batch', 'submit', 'iris']],
    [['batch', 'submit', 'iris', '--file', join(dir, 'missing.jsonl')]],
    [['batch', 'wait', 'job-1', '--timeout', 'soon']],
    [['batch', 'list', '--limit', '500']],
    [['models', 'register', 'iris']],
  ])('%j', async (argv) => {
    const result = await runWith(argv);
    expect(result.code).toBe(2);
    expect(result.calls).toEqual([]);
    expect(result.stderr).toMatch(
      /^inference-platform: .+\nRun 'inference-platform .*--help' for usage\.\n$/,
    );
  });

  it('reports the file and line number of a bad JSONL line', async () => {
    const path = file('bad.jsonl', `${irisItem('a')}\nnot json\n`);
    const result = await runWith(['batch', 'submit', 'iris', '--file', path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${path}:2: not valid JSON`);
  });

  it('reports a request file that is not JSON', async () => {
    const result = await runWith(['infer', 'iris', '--file', file('bad.json', '{"inputs": [')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/bad\.json: not valid JSON/);
  });

  it('asks for a token when there is none', async () => {
    const result = await runWith(['models', 'list'], [], {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no API token: pass --token or set INFERENCE_API_TOKEN');
  });

  it('refuses a model version file that names another model', async () => {
    const path = file('version.json', JSON.stringify({ name: 'other', version: '1' }));
    const result = await runWith(['models', 'register', 'iris', '--file', path]);
    expect(result).toMatchObject({ code: 2, calls: [] });
    expect(result.stderr).toContain("names model 'other', not 'iris'");
  });

  it('refuses SQS submissions without an owner or queue, or over 1 MiB', async () => {
    const items = file('items.jsonl', `${irisItem('a')}\n`);
    const sqs = ['batch', 'submit', 'iris', '--file', items, '--via', 'sqs'];
    expect((await runWith([...sqs, '--queue-url', 'http://q'])).stderr).toContain('needs --owner');
    expect((await runWith([...sqs, '--owner', 'dev'])).stderr).toContain('INFERENCE_SUBMISSIONS_QUEUE_URL');
    const waitWithoutToken = await runWith(
      [...sqs, '--owner', 'dev', '--queue-url', 'http://q', '--wait'],
      [],
      {},
    );
    expect(waitWithoutToken).toMatchObject({ code: 2, stderr: expect.stringContaining('no API token') });
    expect(
      (await runWith([...sqs, '--owner', 'dev', '--queue-url', 'http://q', '--job-id', 'bad id'])).stderr,
    ).toContain("'jobId'");

    // Over one message, a file the API takes; over the API's body limit as well, only an upload.
    const overSqs = (items: number) =>
      runWith([
        'batch',
        'submit',
        'iris',
        '--file',
        file(`sqs-${items}.jsonl`, Array.from({ length: items }, (_, i) => irisItem(`item-${i}`)).join('\n')),
        '--via',
        'sqs',
        '--owner',
        'dev',
        '--queue-url',
        'http://q',
      ]);
    const big = await overSqs(15_000);
    expect(big.code).toBe(2);
    expect(big.stderr).toMatch(/over the 1\.0 MiB an SQS message holds; submit it with --via api/);
    const huge = await overSqs(70_000);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toMatch(/an SQS message holds; submit the file with --via s3/);
  });

  it('refuses an API submission over the body limit', async () => {
    const line = irisItem('x'.repeat(120));
    const big = file('huge.jsonl', Array.from({ length: 30_000 }, () => line).join('\n'));
    const result = await runWith(['batch', 'submit', 'iris', '--file', big, '--via', 'api']);
    expect(result).toMatchObject({ code: 2, calls: [] });
    expect(result.stderr).toMatch(/over the API's 4\.5 MiB body limit; submit the file with --via s3/);
  });

  it("sends a submission of exactly the API's body limit over HTTPS, and one byte more as an upload", async () => {
    // Prepare: items whose submission JSON is API_REQUEST_BODY_BYTES, the last id padded to the byte.
    const itemBytes = Buffer.byteLength(irisItem('item-000000')) + 1;
    const count = Math.floor(API_REQUEST_BODY_BYTES / itemBytes) - 2;
    const lines = Array.from({ length: count }, (_, i) => irisItem(`item-${String(i).padStart(6, '0')}`));
    const json = (padding: number) =>
      JSON.stringify({
        model: 'iris',
        items: [...lines, irisItem('p'.repeat(padding))].map((line) => JSON.parse(line)),
      });
    const padding = API_REQUEST_BODY_BYTES - Buffer.byteLength(json(1)) + 1;
    expect(padding).toBeGreaterThan(0);
    expect(padding).toBeLessThan(128);
    const submitted = { jobId: 'j', status: 'QUEUED' };
    const submit = (extra: number, replies: Reply[]) =>
      runWith(
        [
          'batch',
          'submit',
          'iris',
          '--file',
          file(`edge-${extra}.jsonl`, [...lines, irisItem('p'.repeat(padding + extra))].join('\n')),
        ],
        replies,
      );
    // Act
    const atLimit = await submit(0, [{ status: 201, body: submitted }]);
    const overLimit = await submit(1, [
      { status: 201, body: { inputId: 'input-1', mode: 'stored' } },
      { status: 201, body: submitted },
    ]);
    // Assess
    expect(atLimit.code).toBe(0);
    expect(atLimit.calls[0]).toMatchObject({ method: 'POST', url: `${DEFAULT_API_URL}/v1/batch-jobs` });
    expect(Buffer.byteLength(atLimit.calls[0]!.body!)).toBe(API_REQUEST_BODY_BYTES);
    expect(overLimit.code).toBe(0);
    expect(overLimit.calls[0]).toMatchObject({ method: 'POST', url: `${DEFAULT_API_URL}/v1/batch-inputs` });
    expect(JSON.parse(overLimit.calls[1]!.body!)).toEqual({ model: 'iris', inputs: ['input-1'] });
  });

  it("answers the API's 413 with the way to send it instead", async () => {
    const result = await runWith(
      ['batch', 'submit', 'iris', '--file', file('refused.jsonl', irisItem('a'))],
      [{ status: 413, body: { message: 'Request Too Long' } }],
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('HTTP 413: {"message":"Request Too Long"}');
    expect(result.stderr).toContain('submit the file with --via s3');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('uploads a file over the body limit as a batch input, asking for its size, unread', async () => {
    const line = irisItem('x'.repeat(120));
    const text = Array.from({ length: 30_000 }, () => line).join('\n');
    const big = file('upload.jsonl', text);
    const refused = { error: 'no', code: 'BAD_REQUEST', requestId: 'r' };
    const result = await runWith(
      ['batch', 'submit', 'iris', '--file', big],
      [{ status: 400, body: refused }],
    );
    expect(result.code).toBe(1);
    expect(result.calls).toHaveLength(1);
    expect(result.calls[0]).toMatchObject({ method: 'POST', url: `${DEFAULT_API_URL}/v1/batch-inputs` });
    expect(JSON.parse(result.calls[0]!.body!)).toEqual({ size: Buffer.byteLength(text) });
  });

  it('takes several --file over S3 only, at most 100, each checked for size before any upload', async () => {
    const items = file('few.jsonl', `${irisItem('a')}\n`);
    const two = ['batch', 'submit', 'iris', '--file', items, '--file', items];
    for (const via of ['api', 'sqs']) {
      const result = await runWith([...two, '--via', via]);
      expect(result).toMatchObject({ code: 2, calls: [] });
      expect(result.stderr).toContain('several --file go up as input files: they take --via s3');
    }
    const many = await runWith(['batch', 'submit', 'iris', ...Array(101).fill(['--file', items]).flat()]);
    expect(many).toMatchObject({ code: 2, calls: [] });
    expect(many.stderr).toContain('a job names at most 100 input files, got 101');
    const missing = await runWith([...two, '--file', `${items}.absent`]);
    expect(missing).toMatchObject({ code: 2, calls: [] });
    expect(missing.stderr).toContain('no such file');
  });

  it('refuses --via s3 from stdin', async () => {
    const result = await runWith(['batch', 'submit', 'iris', '--file', '-', '--via', 's3']);
    expect(result).toMatchObject({ code: 2, calls: [] });
    expect(result.stderr).toMatch(/--via s3 uploads a file/);
  });
});

describe('run: requests', () => {
  it('sends inline tensors as a v2 request and prints the answer', async () => {
    const answer = {
      model_name: 'iris',
      outputs: [{ name: 'LABEL', datatype: 'INT64', shape: [1, 1], data: [0] }],
    };
    const result = await runWith(
      ['infer', 'iris', '--version', '1', '--input', 'FEATURES:FP32:1,4:5.1,3.5,1.4,0.2'],
      [{ status: 200, body: answer }],
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(answer);
    const [call] = result.calls;
    expect(call).toMatchObject({ method: 'POST', url: `${DEFAULT_API_URL}/v2/models/iris/versions/1/infer` });
    expect(call!.headers.Authorization).toBe('Bearer secret-token');
    expect(JSON.parse(call!.body!)).toEqual({
      inputs: [{ name: 'FEATURES', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }],
    });
  });

  it('exits 1 with the API message, status and request id, and never prints the token', async () => {
    const result = await runWith(
      ['batch', 'status', 'job-1'],
      [
        {
          status: 404,
          body: {
            error: "batch job 'job-1' is not found",
            code: 'NOT_FOUND',
            requestId: 'req-42',
          },
        },
      ],
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      "inference-platform: HTTP 404 NOT_FOUND: batch job 'job-1' is not found\nX-Request-Id: req-42\n",
    );
    expect(result.stdout + result.stderr).not.toContain('secret-token');
  });

  it('retries reads after Retry-After on 429 and 503', async () => {
    const result = await runWith(
      ['batch', 'status', 'job-1', '--json'],
      [
        { status: 429, body: { error: { message: 'slow down' } }, headers: { 'Retry-After': '2' } },
        { status: 503, body: { error: 'throttled' } },
        { status: 200, body: job('RUNNING', 4) },
      ],
    );
    expect(result.code).toBe(0);
    expect(result.sleeps).toEqual([2000, 2000]);
    expect(result.stderr).toContain('HTTP 429; retrying in 2 s (attempt 2 of 4)');
    expect(new Set(result.calls.map((c) => c.headers['X-Request-Id'])).size).toBe(1);
  });

  it('retries a submission only when it carries an Idempotency-Key', async () => {
    const items = file('two.jsonl', `${irisItem('a')}\n${irisItem('b')}\n`);
    const throttled = {
      status: 429,
      body: { error: { message: 'slow down' } },
      headers: { 'Retry-After': '1' },
    };
    const plain = await runWith(['batch', 'submit', 'iris', '--file', items], [throttled]);
    expect(plain.code).toBe(1);
    expect(plain.calls).toHaveLength(1);

    const keyed = await runWith(
      ['batch', 'submit', 'iris', '--file', items, '--idempotency-key', 'k-1'],
      [throttled, { status: 202, body: job('QUEUED', 0) }],
    );
    expect(keyed.code).toBe(0);
    expect(keyed.stdout).toBe('job-1\n');
    expect(keyed.calls.map((c) => c.headers['Idempotency-Key'])).toEqual(['k-1', 'k-1']);
    expect(JSON.parse(keyed.calls[1]!.body!)).toMatchObject({
      model: 'iris',
      items: [{ id: 'a' }, { id: 'b' }],
    });
  });

  it.each([
    ['SUCCEEDED', 0],
    ['COMPLETED_WITH_ERRORS', 1],
    ['FAILED', 1],
    ['CANCELLED', 1],
  ])('wait exits by the final status: %s -> %i', async (status, code) => {
    const result = await runWith(
      ['batch', 'wait', 'job-1'],
      [
        { status: 404, body: { error: { message: 'not yet' } } },
        { status: 200, body: job('RUNNING', 3) },
        { status: 200, body: job(status, 10, status === 'SUCCEEDED' ? 0 : 2) },
      ],
    );
    expect(result.code).toBe(code);
    expect(result.stderr).toContain('job job-1 is not stored yet');
    expect(result.stderr).toContain('job job-1 RUNNING 3/10 ok 3 failed 0');
    if (code === 1) expect(result.stderr).toContain(`job job-1 ended ${status}: 8 succeeded, 2 failed`);
  });

  it('wait gives up at its timeout with exit 1', async () => {
    const running = { status: 200, body: job('RUNNING', 3) };
    const result = await runWith(
      ['batch', 'wait', 'job-1', '--timeout', '3'],
      [running, running, running, running],
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/timed out after 3 s: job job-1 is still RUNNING 3\/10/);
  });

  it('wait polls once more at its timeout rather than giving up an interval before it', async () => {
    const running = { status: 200, body: job('RUNNING', 3) };
    const result = await runWith(
      ['batch', 'wait', 'job-1', '--timeout', '2.5'],
      [running, running, running, running],
    );
    expect(result.code).toBe(1);
    expect(result.sleeps).toEqual([1000, 1000, 500]);
    expect(result.stderr).toMatch(/timed out after 2.5 s/);
  });

  it('results follow nextToken and print one line per item', async () => {
    const result = await runWith(
      ['batch', 'results', 'job-1'],
      [
        { status: 200, body: job('SUCCEEDED', 10) },
        { status: 200, body: { results: [{ index: 0 }, { index: 1 }], nextToken: 'abc' } },
        { status: 200, body: { results: [{ index: 2, error: 'bad' }] } },
      ],
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('{"index":0}\n{"index":1}\n{"index":2,"error":"bad"}\n');
    expect(result.calls[2]!.url).toContain('nextToken=abc');
  });

  it('results stop quietly, with no summary, when the reader goes away (`| head -1`)', async () => {
    const { io, out } = fakeIo({ INFERENCE_API_TOKEN: 'secret-token' });
    const gone = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    const closed = {
      write: (_text: string, callback?: (error?: Error | null) => void) => {
        callback?.(gone);
        return false;
      },
    };
    const api = fakeFetch([
      { status: 200, body: job('SUCCEEDED', 2) },
      { status: 200, body: { results: [{ index: 0 }, { index: 1 }] } },
    ]);
    const code = await run(['batch', 'results', 'job-1'], { ...io, stdout: closed }, { fetch: api.fetch });
    expect(code).toBe(0);
    expect(out.stderr).toBe('');
  });
});

describe('progress', () => {
  it('draws a bar with counts', () => {
    expect(
      progressBar(
        { jobId: 'j', status: 'RUNNING', total: 1000, succeeded: 615, failed: 5, cancelled: 0 },
        14,
      ),
    ).toBe('[#########-----] 62% 620/1000 ok 615 failed 5');
  });

  it('says the total is what was found so far while the input is still being read', () => {
    expect(
      progressBar(
        {
          jobId: 'j',
          status: 'RUNNING',
          total: 1000,
          succeeded: 500,
          failed: 0,
          cancelled: 0,
          inputScan: { bytesRead: 42, bytes: 100 },
        },
        14,
      ),
    ).toBe('[#######-------] 50% 500/1000+ reading input 42% ok 500 failed 0');
  });

  it('redraws one line on a terminal', () => {
    let text = '';
    const reporter = new ProgressReporter({ isTTY: true, write: (t: string) => (text += t) });
    reporter.update({ jobId: 'j', status: 'RUNNING', total: 2, succeeded: 1, failed: 0, cancelled: 0 });
    reporter.finish();
    expect(text).toBe(`\r[${'#'.repeat(15)}${'-'.repeat(15)}] 50% 1/2 ok 1 failed 0 RUNNING\x1b[K\n`);
  });

  it('counts an upload under a MiB in KiB, and a larger one in MiB', () => {
    let text = '';
    const stream = { isTTY: false, write: (t: string) => (text += t) };
    const small = new UploadProgress(stream, 3 * 1024 + 512);
    small.add(0);
    small.add(3 * 1024 + 512);
    const large = new UploadProgress(stream, 3 * 1024 * 1024);
    large.add(3 * 1024 * 1024);
    expect(text).toBe('uploading 0% 0.0/3.5 KiB\nuploading 100% 3.5/3.5 KiB\nuploading 100% 3.0/3.0 MiB\n');
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
