import { connect } from 'node:net';
import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { API_REQUEST_BODY_BYTES } from '../../contracts/lambda-limits';
import {
  type ApiGatewayEmulator,
  type ApiGatewayEmulatorOptions,
  HEADER_QUOTA_BYTES,
  startApiGateway,
} from '../../local/aws/api-gateway';

const ok = (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> =>
  Promise.resolve({
    statusCode: 200,
    headers: { 'X-Echo': 'yes' },
    body: JSON.stringify({ seen: event.resource }),
  });

function allowAll(principalId = 'alice'): APIGatewayAuthorizerResult {
  return {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:*:*:*/*/*' },
      ],
    },
    context: { sub: principalId, scopes: 'inference:invoke', tier: 'standard' },
  };
}

describe('API Gateway emulator', () => {
  let api: ApiGatewayEmulator | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  async function start(overrides: Partial<ApiGatewayEmulatorOptions> = {}) {
    const options: ApiGatewayEmulatorOptions = {
      handlers: { health: vi.fn(ok), inference: vi.fn(ok), models: vi.fn(ok), batch: vi.fn(ok) },
      authorizer: vi.fn(async () => allowAll()),
      authorizerCacheTtlSeconds: 300,
      allowedOrigins: ['*'],
      ...overrides,
    };
    api = await startApiGateway(options);
    return { ...options, url: api.url };
  }
  const auth = { Authorization: 'Bearer token-a' };

  it('sends a REST proxy event with path parameters, query strings and the client header casing', async () => {
    // Prepare
    const { url, handlers } = await start();
    // Act
    const response = await fetch(`${url}/v2/models/my%20model/versions/3?a=1&a=2&b=x`, {
      headers: { ...auth, 'X-Custom-Header': 'v' },
    });
    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('x-echo')).toBe('yes');
    const event = vi.mocked(handlers.inference).mock.calls[0]![0];
    expect(event).toMatchObject({
      resource: '/v2/models/{model}/versions/{version}',
      path: '/v2/models/my%20model/versions/3',
      httpMethod: 'GET',
      pathParameters: { model: 'my model', version: '3' },
      queryStringParameters: { a: '2', b: 'x' },
      multiValueQueryStringParameters: { a: ['1', '2'], b: ['x'] },
      body: null,
      requestContext: { stage: 'local', authorizer: { sub: 'alice', principalId: 'alice' } },
    });
    expect(event.headers['X-Custom-Header']).toBe('v');
  });

  it('passes query and header names that are object members as ordinary keys', async () => {
    const { url, handlers } = await start();
    const response = await fetch(`${url}/v2/models/simple?constructor=1&__proto__=x&toString=a&toString=b`, {
      headers: { ...auth, constructor: 'c' },
    });
    expect(response.status).toBe(200);
    const event = vi.mocked(handlers.inference).mock.calls[0]![0];
    expect(Object.getOwnPropertyDescriptor(event.queryStringParameters, '__proto__')?.value).toBe('x');
    expect(event.queryStringParameters).toMatchObject({ constructor: '1', toString: 'b' });
    expect(event.multiValueQueryStringParameters).toMatchObject({ toString: ['a', 'b'] });
    expect(event.headers.constructor).toBe('c');
  });

  it('answers an unknown route with the gateway 404 JSON', async () => {
    const { url } = await start();
    const response = await fetch(`${url}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: expect.any(String),
      code: 'NOT_FOUND',
      requestId: response.headers.get('x-amzn-requestid'),
    });
  });

  it('answers a known path with the wrong method as API Gateway does (404)', async () => {
    const { url } = await start();
    expect((await fetch(`${url}/health`, { method: 'DELETE' })).status).toBe(404);
  });

  it('answers 401 without calling the authorizer when the Authorization header is missing', async () => {
    const { url, authorizer } = await start();
    const response = await fetch(`${url}/v2/models/simple`);
    expect(response.status).toBe(401);
    expect(authorizer).not.toHaveBeenCalled();
  });

  it('answers 401 when the authorizer says Unauthorized and 500 when it fails otherwise', async () => {
    const authorizer = vi
      .fn()
      .mockRejectedValueOnce(new Error('Unauthorized'))
      .mockRejectedValueOnce(new Error('boom'));
    const { url } = await start({ authorizer });
    expect((await fetch(`${url}/v2/models/simple`, { headers: auth })).status).toBe(401);
    expect((await fetch(`${url}/v2/models/simple`, { headers: auth })).status).toBe(500);
  });

  it.each([
    ['a context value that is an object', { ...allowAll(), context: { claims: { sub: 'alice' } } }],
    ['no principalId', { policyDocument: allowAll().policyDocument }],
    ['no policy document', { principalId: 'alice' }],
  ])('answers 500 without calling the function when the authorizer returns %s', async (_, output) => {
    const { url, handlers } = await start({ authorizer: vi.fn(async () => output as never) });
    const response = await fetch(`${url}/v2/models/simple`, { headers: auth });
    expect(response.status).toBe(500);
    expect(handlers.inference).not.toHaveBeenCalled();
  });

  it('hands the function every authorizer context value as a string', async () => {
    const output = { ...allowAll(), context: { sub: 'alice', level: 3, admin: false } };
    const { url, handlers } = await start({ authorizer: vi.fn(async () => output) });
    expect((await fetch(`${url}/v2/models/simple`, { headers: auth })).status).toBe(200);
    const event = vi.mocked(handlers.inference).mock.calls[0]![0] as APIGatewayProxyEvent;
    expect(event.requestContext.authorizer).toMatchObject({ sub: 'alice', level: '3', admin: 'false' });
  });

  it('answers 403 when the policy does not allow the route', async () => {
    const denied = allowAll();
    denied.policyDocument.Statement = [
      {
        Action: 'execute-api:Invoke',
        Effect: 'Allow',
        Resource: 'arn:aws:execute-api:*:*:*/*/GET/v2/models/*',
      },
    ];
    const { url, handlers } = await start({ authorizer: vi.fn(async () => denied) });
    const response = await fetch(`${url}/v2/models/simple/infer`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: expect.any(String), code: 'FORBIDDEN' });
    expect(handlers.inference).not.toHaveBeenCalled();
  });

  it('caches the authorizer decision per token for the TTL', async () => {
    const { url, authorizer } = await start();
    for (const token of ['token-a', 'token-a', 'token-a', 'token-b']) {
      await fetch(`${url}/v2/models/simple`, { headers: { Authorization: `Bearer ${token}` } });
    }
    expect(authorizer).toHaveBeenCalledTimes(2);
  });

  it('calls the authorizer every time when the TTL is zero', async () => {
    const { url, authorizer } = await start({ authorizerCacheTtlSeconds: 0 });
    await fetch(`${url}/v2/models/simple`, { headers: auth });
    await fetch(`${url}/v2/models/simple`, { headers: auth });
    expect(authorizer).toHaveBeenCalledTimes(2);
  });

  it.each([
    ['throws', () => Promise.reject(new Error('crash'))],
    ['returns no status code', () => Promise.resolve({ body: 'x' })],
    // Lambda fails an invocation whose response is over its payload limit (6 MB, "Lambda quotas").
    [
      'returns more than Lambda may',
      () => Promise.resolve({ statusCode: 200, body: 'x'.repeat(6 * 1024 * 1024) }),
    ],
  ])('answers 502 when the function %s', async (_case, impl) => {
    const { url } = await start({
      handlers: { health: vi.fn(impl) as never, inference: vi.fn(ok), models: vi.fn(ok), batch: vi.fn(ok) },
    });
    const response = await fetch(`${url}/health`);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: expect.any(String), code: 'BAD_GATEWAY' });
  });

  it('answers 504 when the function runs past the integration timeout', async () => {
    const slow = vi.fn(
      () =>
        new Promise<APIGatewayProxyResult>((resolve) =>
          setTimeout(() => resolve({ statusCode: 200, body: '' }), 500),
        ),
    );
    const { url } = await start({
      handlers: { health: slow, inference: vi.fn(ok), models: vi.fn(ok), batch: vi.fn(ok) },
      integrationTimeoutMs: 50,
    });
    expect((await fetch(`${url}/health`)).status).toBe(504);
  });

  it('answers 413 for a body over 10 MB', async () => {
    const { url, handlers } = await start();
    const response = await fetch(`${url}/v2/models/simple/infer`, {
      method: 'POST',
      headers: auth,
      body: 'x'.repeat(10 * 1024 * 1024 + 1),
    });
    expect(response.status).toBe(413);
    expect(handlers.inference).not.toHaveBeenCalled();
  });

  it('answers 413 to a 40 MB body every time, after reading it, rather than resetting the upload', async () => {
    const { url, handlers } = await start();
    const body = new Uint8Array(40 * 1024 * 1024).fill(0x61);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${url}/v2/models/simple/infer`, { method: 'POST', headers: auth, body });
      expect(response.status).toBe(413);
    }
    expect(handlers.inference).not.toHaveBeenCalled();
  });

  describe('the header quota (request line and header values, 10,240 bytes)', () => {
    /** The status line of the answer to a request written byte for byte, with nothing added. */
    const exchange = (port: number, head: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let answer = '';
        socket.setEncoding('latin1');
        socket.on('data', (data: string) => {
          answer += data;
        });
        socket.on('end', () => resolve(answer.split('\r\n')[0] ?? ''));
        socket.on('error', reject);
        socket.end(head);
      });
    /** A GET whose request line and header values come to `size` bytes exactly. */
    const headOf = (size: number) => {
      const line = 'GET /v2/models/simple HTTP/1.1';
      const fixed = line.length + 'localhost'.length + 'Bearer token-a'.length + 'close'.length;
      return [
        line,
        'Host: localhost',
        'Authorization: Bearer token-a',
        'Connection: close',
        `X-Pad: ${'p'.repeat(size - fixed)}`,
        '',
        '',
      ].join('\r\n');
    };

    it('passes a head at the quota and refuses one byte more, before any function runs', async () => {
      const { handlers } = await start();
      const port = new URL(api!.url).port;
      expect(await exchange(Number(port), headOf(HEADER_QUOTA_BYTES))).toBe('HTTP/1.1 200 OK');
      expect(await exchange(Number(port), headOf(HEADER_QUOTA_BYTES + 1))).toMatch(/^HTTP\/1\.1 431 /);
      expect(handlers.inference).toHaveBeenCalledTimes(1);
    });

    it("answers a head past the parser's bound while its client is still sending, without a reset", async () => {
      // Node's own answer closes the socket at once, so the client's next write meets a reset
      // (EPIPE or ECONNRESET), and a reset can discard the answer before the client reads it.
      const { handlers } = await start();
      // Half open, as an HTTP client is: the server's FIN does not stop it sending.
      const socket = connect({
        port: Number(new URL(api!.url).port),
        host: '127.0.0.1',
        allowHalfOpen: true,
      });
      socket.setEncoding('latin1');
      let answer = '';
      socket.on('data', (data: string) => {
        answer += data;
      });
      const closed = new Promise<Error | undefined>((resolve) => {
        socket.on('error', resolve);
        socket.on('close', () => resolve(undefined));
      });
      socket.write(`GET /v2/models/simple HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer `);
      // 1 MB of header in 64 pieces, the later ones sent after the answer has come.
      for (let i = 0; i < 64; i++) {
        socket.write('a'.repeat(16 * 1024));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      socket.end('\r\n\r\n');
      expect(await closed).toBeUndefined();
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
      expect(handlers.inference).not.toHaveBeenCalled();
    });
  });

  describe('request targets and bytes after a request', () => {
    /** Everything the emulator answers to `bytes` written on one connection, until it closes. */
    const conversation = (bytes: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({
          port: Number(new URL(api!.url).port),
          host: '127.0.0.1',
          allowHalfOpen: true,
        });
        let answer = '';
        socket.setEncoding('latin1');
        socket.on('data', (data: string) => {
          answer += data;
        });
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
        socket.end(bytes);
      });
    const statusLines = (answer: string) => answer.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];

    it.each([
      // Read as a host, this one was the health route.
      ['//evil.example/v2/health/live', 404],
      ['//[', 404],
      ['http://[/health', 400],
    ])(
      'reads an origin-form target starting with // as a path, never a host, and answers one that is no URL with a 400 (%s)',
      async (target, status) => {
        const { handlers } = await start();
        const answer = await conversation(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        expect(statusLines(answer)).toEqual([`HTTP/1.1 ${status}`]);
        expect(answer).toMatch(/"code":"(NOT_FOUND|BAD_REQUEST)"/);
        expect(handlers.health).not.toHaveBeenCalled();
      },
    );

    it('answers a request before refusing the unparsable bytes that follow it on the connection', async () => {
      const { handlers } = await start();
      const answer = await conversation('GET /health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n');
      expect(statusLines(answer)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 400']);
      expect(handlers.health).toHaveBeenCalledTimes(1);
    });
  });

  it("answers Lambda's 413 when the proxy event outgrows the 6 MB invocation payload, though the body is under 10 MB", async () => {
    // Prepare: 4.8 MB of body is 6.4 MB as base64 in the event.
    const { url, handlers } = await start();
    const send = (bytes: number, headers: Record<string, string> = {}) =>
      fetch(`${url}/v1/batch-jobs`, {
        method: 'POST',
        headers: { ...auth, ...headers },
        body: new Uint8Array(bytes).fill(0x61),
      });
    // Act: the contract's body limit holds with header values near API Gateway's quota.
    const refused = await send(4_800_000);
    const accepted = await send(API_REQUEST_BODY_BYTES, { 'x-padding': 'a'.repeat(9_500) });
    // Assess
    expect(refused.status).toBe(413);
    expect(refused.headers.get('x-amzn-errortype')).toBe('BadRequestException');
    expect(await refused.json()).toEqual({ message: 'Request Too Long' });
    expect(accepted.status).toBe(200);
    expect(handlers.batch).toHaveBeenCalledTimes(1);
  });

  const BYTES = Uint8Array.of(0x7b, 0x00, 0xff, 0xfe, 0x80, 0x01);
  // The rules for a list of specific types; the stack's own list is `*/*`, tested below.
  const SPECIFIC = ['application/octet-stream', 'application/vnd.sagemaker-triton.binary+json'];

  it.each([
    ['application/octet-stream', true],
    ['application/vnd.sagemaker-triton.binary+json;json-header-size=1', true],
    ['Application/Octet-Stream; charset=binary', true],
    ['application/json', false],
    ['text/plain', false],
  ])('passes a %s body to the function base64-encoded: %s', async (contentType, binary) => {
    // Prepare
    const { url, handlers } = await start({ binaryMediaTypes: SPECIFIC });
    // Act
    await fetch(`${url}/v2/models/simple/infer`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': contentType },
      body: binary ? BYTES : '{"inputs":[]}',
    });
    // Assess
    const event = vi.mocked(handlers.inference).mock.calls[0]![0];
    expect(event.isBase64Encoded).toBe(binary);
    if (binary) expect(new Uint8Array(Buffer.from(event.body!, 'base64'))).toEqual(BYTES);
    else expect(event.body).toBe('{"inputs":[]}');
  });

  it.each([
    ['application/octet-stream', true],
    ['application/octet-stream, application/json', true],
    ['application/json, application/octet-stream', false],
    ['*/*', false],
    [undefined, false],
  ])('turns a base64 answer back into bytes for Accept %s: %s', async (accept, decoded) => {
    // Prepare
    const binaryAnswer = vi.fn(async () => ({
      statusCode: 200,
      headers: { 'Content-Type': 'application/octet-stream' },
      body: Buffer.from(BYTES).toString('base64'),
      isBase64Encoded: true,
    }));
    const { url } = await start({
      handlers: { health: vi.fn(ok), inference: binaryAnswer, models: vi.fn(ok), batch: vi.fn(ok) },
      binaryMediaTypes: SPECIFIC,
    });
    // Act
    const response = await fetch(`${url}/v2/models/simple/infer`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/octet-stream', ...(accept ? { Accept: accept } : {}) },
      body: BYTES,
    });
    // Assess: like API Gateway, anyone whose first Accept type is not binary gets the base64 text.
    const body = new Uint8Array(await response.arrayBuffer());
    expect(body).toEqual(decoded ? BYTES : new TextEncoder().encode(Buffer.from(BYTES).toString('base64')));
  });

  it("with the stack's */*, passes every body base64-encoded, JSON and a missing Content-Type too", async () => {
    // Prepare
    const { url, handlers } = await start();
    // Act
    // A byte body: fetch gives a string body a text/plain Content-Type of its own.
    for (const headers of [{ 'Content-Type': 'application/json' }, {}] as Record<string, string>[]) {
      await fetch(`${url}/v2/models/simple/infer`, {
        method: 'POST',
        headers: { ...auth, ...headers },
        body: new TextEncoder().encode('{"inputs":[]}'),
      });
    }
    // Assess
    for (const [event] of vi.mocked(handlers.inference).mock.calls) {
      expect(event.isBase64Encoded).toBe(true);
      expect(Buffer.from(event.body!, 'base64').toString('utf8')).toBe('{"inputs":[]}');
    }
    expect(handlers.inference).toHaveBeenCalledTimes(2);
  });

  it.each([[undefined], ['application/json']])(
    "with the stack's */*, a base64 answer becomes bytes for Accept %s; text stays text",
    async (accept) => {
      // Prepare
      const answers = [
        { isBase64Encoded: true, body: Buffer.from(BYTES).toString('base64') },
        { isBase64Encoded: false, body: '{"ok":true}' },
      ];
      const inference = vi.fn(async () => ({ statusCode: 200, headers: {}, ...answers.shift()! }));
      const { url } = await start({
        handlers: { health: vi.fn(ok), inference, models: vi.fn(ok), batch: vi.fn(ok) },
      });
      const send = () =>
        fetch(`${url}/v2/models/simple/infer`, {
          method: 'POST',
          headers: { ...auth, ...(accept ? { Accept: accept } : {}) },
          body: '{}',
        });
      // Act + Assess
      expect(new Uint8Array(await (await send()).arrayBuffer())).toEqual(BYTES);
      expect(await (await send()).text()).toBe('{"ok":true}');
    },
  );

  it('answers a CORS preflight without a token', async () => {
    const { url, authorizer } = await start();
    const response = await fetch(`${url}/v2/models/simple/infer`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-headers')).toContain('Authorization');
    expect(authorizer).not.toHaveBeenCalled();
  });

  it('echoes only allowed origins in the preflight', async () => {
    const { url } = await start({ allowedOrigins: ['https://a.example', 'https://b.example'] });
    const preflight = (origin: string) =>
      fetch(`${url}/health`, { method: 'OPTIONS', headers: { Origin: origin } }).then((r) =>
        r.headers.get('access-control-allow-origin'),
      );
    expect(await preflight('https://b.example')).toBe('https://b.example');
    expect(await preflight('https://evil.example')).toBeNull();
  });
});
