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
  if (style === 'inference') return { error: message };
  return { error: message, code, requestId, ...(details === undefined ? {} : { details }) };
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
