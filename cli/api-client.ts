/**
 * The platform's HTTP API as the commands use it: bearer auth, a timeout per attempt, our own
 * X-Request-Id (so a failure can always be traced), and retries of 429/503 after Retry-After for the
 * calls that are safe to repeat.
 */
import { randomUUID } from 'node:crypto';
import { ApiError, CliError, UsageError } from './errors';

export interface ApiClientOptions {
  readonly url: string;
  readonly token?: string;
  /** Per attempt; above API Gateway's 29 s integration timeout so the API answers first. */
  readonly timeoutMs?: number;
  readonly maxAttempts?: number;
  /** Longest wait between attempts, whatever Retry-After says. */
  readonly maxRetryDelayMs?: number;
  /** Told about each retry, for the user's stderr. */
  readonly onRetry?: (message: string) => void;
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface RequestOptions {
  readonly body?: unknown;
  readonly query?: Record<string, string | number | undefined>;
  readonly headers?: Record<string, string>;
  /** Repeat on 429/503: only for reads, inference (no side effects) and idempotent submissions. */
  readonly retry?: boolean;
}

export interface ApiResponse<T> {
  readonly status: number;
  readonly body: T;
  readonly requestId: string;
}

const RETRYABLE = new Set([429, 503]);

export class ApiClient {
  private readonly fetch: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: ApiClientOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Fails before anything is sent when a later call would have no token. */
  requireToken(): void {
    if (!this.options.token) {
      throw new UsageError(
        'no API token: pass --token or set INFERENCE_API_TOKEN (locally: npm run --silent token)',
      );
    }
    // A bearer token is printable ASCII (RFC 6750's b64token and the JWT's base64url); anything else
    // cannot go in a header, and the token itself is never printed.
    if (!/^[\x21-\x7e]+$/.test(this.options.token)) {
      throw new UsageError(
        'the API token holds a character a bearer token cannot have (a space, a line break or a non-ASCII one); check --token or INFERENCE_API_TOKEN',
      );
    }
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    this.requireToken();
    const url = new URL(`${this.options.url}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    // One id for every attempt: the API routes a retried inference to the same alias version.
    const requestId = `cli-${randomUUID()}`;
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.options.token}`,
      Accept: 'application/json',
      'X-Request-Id': requestId,
      ...options.headers,
    };
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (body !== undefined) headers['Content-Type'] = 'application/json';

    const maxAttempts = options.retry ? (this.options.maxAttempts ?? 4) : 1;
    for (let attempt = 1; ; attempt++) {
      const response = await this.send(method, url, headers, body);
      const text = await response.text();
      const answeredId = response.headers.get('x-request-id') ?? requestId;
      if (response.ok) {
        return {
          status: response.status,
          body: (text ? parseBody(text) : undefined) as T,
          requestId: answeredId,
        };
      }
      if (RETRYABLE.has(response.status) && attempt < maxAttempts) {
        const delay = Math.min(
          retryAfterMs(response.headers.get('retry-after')) ?? 500 * 2 ** attempt,
          this.options.maxRetryDelayMs ?? 30_000,
        );
        this.options.onRetry?.(
          `HTTP ${response.status}; retrying in ${Math.ceil(delay / 1000)} s (attempt ${attempt + 1} of ${maxAttempts})`,
        );
        await this.sleep(delay);
        continue;
      }
      throw apiError(response.status, text, answeredId);
    }
  }

  private async send(method: string, url: URL, headers: Record<string, string>, body?: string) {
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    try {
      return await this.fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') {
        throw new CliError(`${method} ${url.pathname}: no answer within ${timeoutMs / 1000} s`);
      }
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach ${url.origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}` +
          ' (is the platform running? set --url or INFERENCE_API_URL)',
      );
    }
  }
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Reads the API's errors: `{"error": "..."}`, with `code`, `requestId` and `details` beside it on the control plane. */
export function apiError(status: number, text: string, headerRequestId: string): ApiError {
  const body = parseBody(text) as { error?: unknown; code?: unknown; requestId?: unknown; details?: unknown };
  if (typeof body === 'object' && body !== null && typeof body.error === 'string') {
    return new ApiError(
      status,
      body.error,
      typeof body.requestId === 'string' ? body.requestId : headerRequestId,
      typeof body.code === 'string' ? body.code : undefined,
      body.details,
    );
  }
  const message = text.trim() === '' ? 'no body' : text.trim().slice(0, 500);
  return new ApiError(status, message, headerRequestId);
}

/** Retry-After as seconds or an HTTP date. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
