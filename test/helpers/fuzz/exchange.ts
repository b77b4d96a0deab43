/**
 * A fuzzed request as it goes on the wire, and its answer: sending one exactly as built, and an
 * account of the exchange for a failure message.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface FuzzRequest {
  /** The route it was built from, as `METHOD /path/{param}`. */
  readonly route: string;
  readonly method: string;
  /** The request target as sent: path and query, printable ASCII only. */
  readonly target: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: string | Uint8Array;
}

export interface FuzzResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** The path as the platform's gateway resolves it (dot segments removed, query dropped). */
export const resolvedPath = (target: string) => new URL(target, 'http://localhost').pathname;

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** Sends a request exactly as built (raw target, repeated headers), with a deadline above the gateway's 29 s. */
export function send(baseUrl: string, request: FuzzRequest, timeoutMs = 35_000): Promise<FuzzResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    // No prototype: header names such as `constructor` are fuzzed too.
    const headers: Record<string, string[]> = Object.create(null);
    for (const [name, value] of request.headers) headers[name] = [...(headers[name] ?? []), value];
    // Framed explicitly: Node.js sends a GET body unframed, and the server would read it as the next request.
    const length = request.body === undefined ? 0 : Buffer.byteLength(request.body);
    if (length > 0 || request.method !== 'GET') headers['Content-Length'] = [String(length)];
    const req = httpRequest(
      { agent, host: hostname, port, method: request.method, path: request.target, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms (a hang)`)));
    req.on('error', reject);
    req.end(request.body);
  });
}

export function closeConnections(): void {
  agent.destroy();
}

/** A short account of an exchange for a failure message. */
export function describeExchange(request: FuzzRequest, response?: FuzzResponse): string {
  const body =
    request.body === undefined
      ? '(no body)'
      : typeof request.body === 'string'
        ? JSON.stringify(request.body.slice(0, 300))
        : `${request.body.length} bytes ${Buffer.from(request.body.subarray(0, 64)).toString('hex')}`;
  const lines = [
    `${request.method} ${request.target.slice(0, 300)}  (route ${request.route})`,
    ...request.headers.map(([k, v]) => `${k}: ${v.length > 80 ? `${v.slice(0, 80)}...` : v}`),
    `body: ${body}`,
  ];
  if (response) lines.push(`-> ${response.status} ${response.body.toString('utf8').slice(0, 300)}`);
  return lines.join('\n');
}
