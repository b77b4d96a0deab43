/**
 * Typed errors of the platform and the one place that maps them to HTTP status codes. Handlers
 * throw these; anything else is an internal error whose details go only to the log.
 */
export abstract class PlatformError extends Error {
  abstract readonly statusCode: number;
  abstract readonly code: string;
  /** Seconds a client should wait before retrying, for 429 and 503. */
  readonly retryAfterSeconds?: number;
  /** Headers the answer carries besides Retry-After. */
  readonly headers?: Readonly<Record<string, string>>;
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends PlatformError {
  readonly statusCode = 400;
  readonly code = 'BAD_REQUEST';
}

export class NotFoundError extends PlatformError {
  readonly statusCode = 404;
  readonly code = 'NOT_FOUND';
}

export class PayloadTooLargeError extends PlatformError {
  readonly statusCode = 413;
  readonly code = 'PAYLOAD_TOO_LARGE';
}

/** A Content-Encoding the API cannot read; `headers` name those it can (Accept-Encoding). */
export class UnsupportedMediaTypeError extends PlatformError {
  readonly statusCode = 415;
  readonly code = 'UNSUPPORTED_MEDIA_TYPE';
  constructor(
    message: string,
    override readonly headers: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

/**
 * An answer too large for Lambda to return (LAMBDA_SYNC_PAYLOAD_BYTES): sent as it is, the invocation
 * would fail and API Gateway answer a bare 502.
 */
export class ResponseTooLargeError extends PlatformError {
  readonly statusCode = 502;
  readonly code = 'RESPONSE_TOO_LARGE';
}

/** The backend answered with an error of its own (for example the model rejected the input). */
export class BackendError extends PlatformError {
  readonly statusCode = 502;
  readonly code = 'BACKEND_ERROR';
}

/** The backend itself failed (its container answered 5xx), as opposed to rejecting the request. */
export class BackendFailedError extends BackendError {}

export class BackendUnavailableError extends PlatformError {
  readonly statusCode = 503;
  readonly code = 'BACKEND_UNAVAILABLE';
  constructor(
    message: string,
    override readonly retryAfterSeconds = 1,
  ) {
    super(message);
  }
}

export class BackendTimeoutError extends PlatformError {
  readonly statusCode = 504;
  readonly code = 'BACKEND_TIMEOUT';
}

export class ConflictError extends PlatformError {
  readonly statusCode = 409;
  readonly code = 'CONFLICT';
}

export class RateLimitedError extends PlatformError {
  readonly statusCode = 429;
  readonly code = 'RATE_LIMITED';
  constructor(override readonly retryAfterSeconds: number) {
    super(`rate limit exceeded; retry after ${retryAfterSeconds} s`);
  }
}
