import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { InvalidInferenceRequestError } from '../inference/protocol';
import { logger } from '../observability/logger';
import { BadRequestError, PlatformError } from './errors';

/** A client-sent request id is echoed only when it is short and made of safe characters. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Case-insensitive header lookup (API Gateway keeps the client's casing). */
export function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

/** The id that names this request in responses and logs: the client's `X-Request-Id` or API Gateway's. */
export function requestIdOf(event: APIGatewayProxyEvent): string {
  const sent = header(event, 'x-request-id');
  return sent && CLIENT_REQUEST_ID.test(sent) ? sent : event.requestContext.requestId;
}

export function json(
  statusCode: number,
  body: unknown,
  requestId: string,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json', 'X-Request-Id': requestId, ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * Error body styles. Both keep `error` a string, as the Open Inference Protocol's error response has
 * it, so a Triton or KServe client can print any of the API's errors (Triton's Python client builds
 * its exception's text from that string): inference errors are exactly `{error}`, as Triton sends
 * them; the control plane's add the `code`, `requestId` and `details` beside it.
 */
export type ErrorStyle = 'inference' | 'control';

/** Maps any thrown value to a response; 5xx bodies stay generic and the cause goes to the log. */
export function errorResponse(thrown: unknown, requestId: string, style: ErrorStyle): APIGatewayProxyResult {
  // A request the protocol or the model's signature refuses (the codec's and the service's checks).
  const error = thrown instanceof InvalidInferenceRequestError ? new BadRequestError(thrown.message) : thrown;
  if (isThrottled(error)) {
    // A table or service throttled us beyond the SDK's retries: transient, so the client may retry.
    logger.warn('dependency throttled', { error: error as Error });
    return json(
      503,
      errorBody(style, 'SERVICE_UNAVAILABLE', 'the service is busy; retry shortly', requestId),
      requestId,
      { 'Retry-After': '1' },
    );
  }
  if (!(error instanceof PlatformError)) {
    logger.error('unhandled error', { error: error as Error });
    return json(500, errorBody(style, 'INTERNAL', 'internal error', requestId), requestId);
  }
  if (error.statusCode >= 500) logger.warn('backend failure', { error });
  const headers: Record<string, string> = {
    ...error.headers,
    ...(error.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(error.retryAfterSeconds) }),
  };
  return json(
    error.statusCode,
    errorBody(style, error.code, error.message, requestId, error.details),
    requestId,
    headers,
  );
}

/** Throttling errors of AWS services, as the SDK names them once its own retries are spent. */
const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
]);

function isThrottled(error: unknown): boolean {
  return error instanceof Error && '$metadata' in error && THROTTLING_ERRORS.has(error.name);
}

function errorBody(style: ErrorStyle, code: string, message: string, requestId: string, details?: unknown) {
  const error = clip(message, MAX_ERROR_MESSAGE);
  if (style === 'inference') return { error };
  return { error, code, requestId, ...(details === undefined ? {} : { details: bounded(details) }) };
}

/**
 * Error texts quote what the client sent (a tensor's name, an unknown key, the model's own message
 * about an input), and the answer's JSON and Lambda's result each escape it again: a body of quotes
 * grows fourfold on its way back, past the 6 MB a function may return. So an error answer quotes at
 * most this much of a message, and of each string in its details.
 */
const MAX_ERROR_MESSAGE = 4_096;
const MAX_DETAIL_TEXT = 256;
const MAX_DETAILS = 100;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}

/** Details with each string clipped and each list cut to its first MAX_DETAILS entries. */
function bounded(value: unknown): unknown {
  if (typeof value === 'string') return clip(value, MAX_DETAIL_TEXT);
  if (Array.isArray(value)) return value.slice(0, MAX_DETAILS).map(bounded);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .slice(0, MAX_DETAILS)
        .map(([key, v]) => [clip(key, MAX_DETAIL_TEXT), bounded(v)]),
    );
  }
  return value;
}

/** Parses a JSON request body, answering 400 for anything that is not JSON. */
export function parseJsonBody(event: APIGatewayProxyEvent): unknown {
  if (!event.body) throw new BadRequestError('the request body is empty; send a JSON document');
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BadRequestError(`the request body is not valid JSON: ${(error as Error).message}`);
  }
}
