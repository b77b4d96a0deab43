import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from 'aws-lambda';
import {
  CORS_ALLOW_HEADERS,
  CORS_MAX_AGE_SECONDS,
  corsHeaders,
  gatewayResponseOrigin,
} from '../../contracts/cors';
import {
  type GatewayResponseType,
  gatewayResponseStatus,
  gatewayResponseTemplate,
} from '../../contracts/gateway-responses';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../contracts/lambda-limits';
import { BINARY_MEDIA_TYPES, isBinaryMediaType } from '../../contracts/media-types';
import { type ApiFunctionName, matchRoute, type Route } from '../../contracts/routes';
import { listenOnLoopback } from '../loopback';
import { requestUrl } from '../request-target';

/** A Lambda handler as the runtime calls it: event and context in, result out. */
export type LambdaHandler<E, R> = (event: E, context: Context) => Promise<R>;

export interface ApiGatewayEmulatorOptions {
  readonly handlers: Record<ApiFunctionName, LambdaHandler<APIGatewayProxyEvent, APIGatewayProxyResult>>;
  readonly authorizer: LambdaHandler<APIGatewayRequestAuthorizerEvent, APIGatewayAuthorizerResult>;
  /** Seconds an authorizer decision is reused for the same Authorization header; 0 disables caching. */
  readonly authorizerCacheTtlSeconds: number;
  /** Origins the CORS preflight allows; `*` allows any. */
  readonly allowedOrigins: readonly string[];
  /** @default BINARY_MEDIA_TYPES, the stack's */
  readonly binaryMediaTypes?: readonly string[];
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default 29000, API Gateway's integration timeout */
  readonly integrationTimeoutMs?: number;
}

export interface ApiGatewayEmulator {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const STAGE = 'local';
const API_ID = 'local';
const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
/** API Gateway's payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/**
 * API Gateway's quota on the request line and header values together (docs/api-gateway-rules.md).
 * AWS does not document the answer past it; the emulator's is 431 (RFC 6585), with no body.
 */
export const HEADER_QUOTA_BYTES = 10_240;
/**
 * Node's parser keeps at most this much of a request head. Above the quota, so that the quota
 * decides every head up to it; a larger head is refused by the parser (local/client-errors.ts).
 */
const PARSER_HEAD_BYTES = 64 * 1024;
/**
 * Lambda's limit on a synchronous invocation's payload (LAMBDA_SYNC_PAYLOAD_BYTES) holds the whole
 * proxy event as JSON, where the body is base64 (4/3 of its bytes, with `*\/*`) or JSON-escaped text.
 * Beyond it the invoke fails with RequestEntityTooLargeException and API Gateway answers the 413
 * below, which no gateway response changes (docs/api-gateway-rules.md). The function's result is
 * held to the same limit: a larger one fails the invocation, and API Gateway answers 502. The body a
 * client can count on is API_REQUEST_BODY_BYTES, which this check takes whatever the headers within
 * their quota.
 */
export const LAMBDA_PAYLOAD_TOO_LARGE = {
  statusCode: 413,
  errorType: 'BadRequestException',
  body: '{"message": "Request Too Long"}',
} as const;

interface CachedDecision {
  readonly result: APIGatewayAuthorizerResult;
  readonly expiresAt: number;
}

/**
 * A REST API as API Gateway runs it, for the route table the CDK stack deploys: REQUEST authorizer
 * with a per-token decision cache and IAM policy evaluation, Lambda proxy events, gateway responses,
 * CORS preflight, binary media types, the 10 MB payload limit, Lambda's 6 MB invocation payload limit
 * and the 29 s integration timeout.
 */
export async function startApiGateway(options: ApiGatewayEmulatorOptions): Promise<ApiGatewayEmulator> {
  const decisions = new Map<string, CachedDecision>();
  const timeoutMs = options.integrationTimeoutMs ?? 29_000;
  const binaryMediaTypes = options.binaryMediaTypes ?? BINARY_MEDIA_TYPES;

  const server: Server = createServer({ maxHeaderSize: PARSER_HEAD_BYTES }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      // Only a bug in the emulator itself lands here; answer as the gateway would and keep serving.
      console.error('api gateway emulator failure', error);
      if (!res.headersSent) sendGatewayResponse(res, 'DEFAULT_5XX', randomUUID());
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const origin = req.headers.origin;
    const url = requestUrl(req.url);
    if (!url) return sendGatewayResponse(res, 'BAD_REQUEST_PARAMETERS', requestId);
    const method = (req.method ?? 'GET').toUpperCase();
    const body = await readBody(req);
    if (headSize(req) > HEADER_QUOTA_BYTES) {
      res.writeHead(431, { 'Content-Length': 0 });
      return void res.end();
    }
    if (body === 'too-large') return sendGatewayResponse(res, 'REQUEST_TOO_LARGE', requestId, true);

    const match = matchRoute(method === 'OPTIONS' ? 'GET' : method, url.pathname);
    if (method === 'OPTIONS') {
      if (match === 'not-found') return sendGatewayResponse(res, 'MISSING_AUTHENTICATION_TOKEN', requestId);
      return sendPreflight(res, requestId, origin);
    }
    if (typeof match === 'string') return sendGatewayResponse(res, 'MISSING_AUTHENTICATION_TOKEN', requestId);

    const { headers, multiValueHeaders } = headersOf(req);
    const { single: queryStringParameters, multi: multiValueQueryStringParameters } = queryOf(url);
    const requestContext = {
      accountId: ACCOUNT,
      apiId: API_ID,
      stage: STAGE,
      requestId,
      requestTimeEpoch: Date.now(),
      httpMethod: method,
      path: `/${STAGE}${url.pathname}`,
      protocol: `HTTP/${req.httpVersion}`,
      resourceId: match.route.path,
      resourcePath: match.route.path,
      identity: identityOf(req),
    };

    let authorizerContext: Record<string, unknown> | null = null;
    if (match.route.scope) {
      const decision = await authorize(match.route, url.pathname, method, headers, requestContext);
      if (typeof decision === 'string') return sendGatewayResponse(res, decision, requestId);
      authorizerContext = decision;
    }

    const event = {
      resource: match.route.path,
      path: url.pathname,
      httpMethod: method,
      headers,
      multiValueHeaders,
      queryStringParameters,
      multiValueQueryStringParameters,
      pathParameters: Object.keys(match.pathParameters).length > 0 ? match.pathParameters : null,
      stageVariables: null,
      requestContext: { ...requestContext, authorizer: authorizerContext },
      ...proxyBody(body, req.headers['content-type'], binaryMediaTypes),
    } as APIGatewayProxyEvent;

    if (Buffer.byteLength(JSON.stringify(event)) > LAMBDA_SYNC_PAYLOAD_BYTES) {
      res.writeHead(LAMBDA_PAYLOAD_TOO_LARGE.statusCode, {
        'Content-Type': 'application/json',
        'x-amzn-RequestId': requestId,
        'x-amzn-ErrorType': LAMBDA_PAYLOAD_TOO_LARGE.errorType,
      });
      res.end(LAMBDA_PAYLOAD_TOO_LARGE.body);
      return;
    }
    const result = await invokeWithTimeout(
      options.handlers[match.route.function],
      event,
      match.route.function,
    );
    if (result === 'timeout') return sendGatewayResponse(res, 'INTEGRATION_TIMEOUT', requestId);
    if (!isProxyResult(result)) return sendGatewayResponse(res, 'INTEGRATION_FAILURE', requestId);
    if (Buffer.byteLength(JSON.stringify(result)) > LAMBDA_SYNC_PAYLOAD_BYTES) {
      console.error(`function ${match.route.function}: its response is over the Lambda payload limit`);
      return sendGatewayResponse(res, 'INTEGRATION_FAILURE', requestId);
    }
    sendProxyResult(res, result, requestId, isBinaryMediaType(req.headers.accept, binaryMediaTypes));
  }

  /** Runs the authorizer (or reuses its cached decision) and evaluates the policy for this call. */
  async function authorize(
    route: Route,
    path: string,
    method: string,
    headers: Record<string, string>,
    requestContext: object,
  ): Promise<Record<string, unknown> | GatewayResponseType> {
    const identity = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
    // The identity source is required: without it API Gateway answers 401 without calling the authorizer.
    if (!identity) return 'UNAUTHORIZED';
    const methodArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/${STAGE}/${method}${path}`;
    let result = decisions.get(identity);
    if (!result || result.expiresAt <= Date.now()) {
      decisions.delete(identity);
      const event = {
        type: 'REQUEST',
        methodArn,
        resource: route.path,
        path,
        httpMethod: method,
        headers,
        requestContext,
      } as unknown as APIGatewayRequestAuthorizerEvent;
      let authorizerResult: APIGatewayAuthorizerResult;
      try {
        authorizerResult = await options.authorizer(event, lambdaContext('authorizer', timeoutMs));
      } catch (error) {
        if ((error as Error)?.message === 'Unauthorized') return 'UNAUTHORIZED';
        // API Gateway writes an authorizer's failure to its execution log; the 500 says nothing.
        console.error('authorizer failed', error);
        return 'AUTHORIZER_FAILURE';
      }
      if (!isAuthorizerOutput(authorizerResult)) {
        console.error('authorizer returned an output API Gateway refuses', authorizerResult);
        return 'AUTHORIZER_CONFIGURATION_ERROR';
      }
      result = { result: authorizerResult, expiresAt: Date.now() + options.authorizerCacheTtlSeconds * 1000 };
      if (options.authorizerCacheTtlSeconds > 0) decisions.set(identity, result);
    }
    if (!isAllowed(result.result, methodArn)) return 'ACCESS_DENIED';
    // The function sees every context value as a string ("numberKey": "1" in API Gateway's docs).
    const context = Object.fromEntries(
      Object.entries(result.result.context ?? {}).map(([key, value]) => [key, String(value)]),
    );
    return { ...context, principalId: result.result.principalId, integrationLatency: 0 };
  }

  async function invokeWithTimeout(
    handler: LambdaHandler<APIGatewayProxyEvent, APIGatewayProxyResult>,
    event: APIGatewayProxyEvent,
    name: string,
  ): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      return await Promise.race([handler(event, lambdaContext(name, timeoutMs)), timeout]);
    } catch (error) {
      // A function error: API Gateway logs it and answers 502.
      console.error(`function ${name} failed`, error);
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  function sendPreflight(res: ServerResponse, requestId: string, origin: string | undefined): void {
    res.writeHead(204, {
      ...corsHeaders(options.allowedOrigins, origin),
      'Access-Control-Allow-Methods': 'OPTIONS,GET,PUT,POST,DELETE,PATCH,HEAD',
      'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS.join(','),
      'Access-Control-Max-Age': String(CORS_MAX_AGE_SECONDS),
      'x-amzn-RequestId': requestId,
    });
    res.end();
  }

  function sendGatewayResponse(
    res: ServerResponse,
    type: GatewayResponseType,
    requestId: string,
    close = false,
  ): void {
    const body = gatewayResponseTemplate(type).replace('$context.requestId', requestId);
    // Only the emulator's own failure uses a fallback type directly; it has no AWS counterpart.
    res.writeHead(gatewayResponseStatus(type) ?? 500, {
      'Content-Type': 'application/json',
      ...staticOrigin(options.allowedOrigins),
      'x-amzn-RequestId': requestId,
      'x-amzn-ErrorType': type,
      ...(close ? { Connection: 'close' } : {}),
    });
    res.end(body);
  }

  const { url, port } = await listenOnLoopback(server, options.port ?? 0);
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function staticOrigin(allowedOrigins: readonly string[]): Record<string, string> {
  const value = gatewayResponseOrigin(allowedOrigins);
  return value ? { 'Access-Control-Allow-Origin': value } : {};
}

/**
 * The body, read to its end even past the limit: a request refused while its client is still
 * sending would otherwise be closed under it, and a reset loses the answer.
 */
async function readBody(req: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_BODY_BYTES ? 'too-large' : Buffer.concat(chunks);
}

/** The request line and the header values, in bytes: what API Gateway's header quota counts. */
function headSize(req: IncomingMessage): number {
  let size = Buffer.byteLength(`${req.method} ${req.url} HTTP/${req.httpVersion}`, 'latin1');
  for (let i = 1; i < req.rawHeaders.length; i += 2) size += Buffer.byteLength(req.rawHeaders[i]!, 'latin1');
  return size;
}

/** Headers with the client's casing, as API Gateway passes them (last value wins in `headers`). */
function headersOf(req: IncomingMessage) {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
    pairs.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  const { single, multi } = collect(pairs);
  return { headers: single, multiValueHeaders: multi };
}

function queryOf(url: URL) {
  if (url.searchParams.size === 0) return { single: null, multi: null };
  return collect(url.searchParams);
}

/**
 * Name/value pairs as API Gateway's single- and multi-value maps. Built from a Map: any name a
 * client sends (`constructor`, `__proto__`) is an ordinary key, never an inherited member.
 */
function collect(pairs: Iterable<[string, string]>) {
  const values = new Map<string, string[]>();
  for (const [name, value] of pairs) values.set(name, [...(values.get(name) ?? []), value]);
  return {
    single: Object.fromEntries([...values].map(([name, all]) => [name, all.at(-1)!])),
    multi: Object.fromEntries(values),
  };
}

function identityOf(req: IncomingMessage) {
  return {
    sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
    userAgent: req.headers['user-agent'] ?? null,
  };
}

/** The context the Lambda runtime hands a handler, with a deadline `timeoutMs` from now. */
export function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * An authorizer output API Gateway takes ("Output from an API Gateway Lambda authorizer"): a
 * `principalId` and a `policyDocument` with its statements, and a `context` whose values are
 * strings, numbers or booleans, never an object or array. Any other output is a 500
 * (AUTHORIZER_CONFIGURATION_ERROR) whatever its policy says.
 */
function isAuthorizerOutput(output: unknown): output is APIGatewayAuthorizerResult {
  if (typeof output !== 'object' || output === null) return false;
  const { principalId, policyDocument, context } = output as Record<string, unknown>;
  if (typeof principalId !== 'string') return false;
  if (!Array.isArray((policyDocument as { Statement?: unknown } | undefined)?.Statement)) return false;
  if (context === undefined || context === null) return true;
  if (typeof context !== 'object' || Array.isArray(context)) return false;
  return Object.values(context).every((value) => ['string', 'number', 'boolean'].includes(typeof value));
}

/** IAM evaluation for execute-api: an explicit Deny wins, then any Allow; `*` and `?` are wildcards. */
export function isAllowed(result: APIGatewayAuthorizerResult, methodArn: string): boolean {
  let allowed = false;
  for (const statement of result.policyDocument?.Statement ?? []) {
    const raw = (statement as { Resource?: string | string[] }).Resource ?? [];
    const resources = Array.isArray(raw) ? raw : [raw];
    if (!resources.some((pattern) => wildcardMatch(pattern, methodArn))) continue;
    if (statement.Effect === 'Deny') return false;
    if (statement.Effect === 'Allow') allowed = true;
  }
  return allowed;
}

function wildcardMatch(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(value);
}

function isProxyResult(value: unknown): value is APIGatewayProxyResult {
  return (
    typeof value === 'object' &&
    value !== null &&
    Number.isInteger((value as APIGatewayProxyResult).statusCode) &&
    ['string', 'undefined'].includes(typeof (value as APIGatewayProxyResult).body)
  );
}

/**
 * The body of a proxy event: base64-encoded when the request's Content-Type (`application/json` when
 * absent) is one of the API's binary media types, else UTF-8 text (where bytes that are not UTF-8 do
 * not survive), as API Gateway passes it.
 */
function proxyBody(body: Buffer, contentType: string | undefined, binaryMediaTypes: readonly string[]) {
  if (body.length === 0) return { body: null, isBase64Encoded: false };
  const binary = isBinaryMediaType(contentType, binaryMediaTypes);
  return { body: body.toString(binary ? 'base64' : 'utf8'), isBase64Encoded: binary };
}

/**
 * Sends a function's result. A base64 body becomes bytes again only when the client's first Accept
 * media type (`application/json` when absent) is a binary media type; any other client gets the
 * base64 text, as from API Gateway.
 */
function sendProxyResult(
  res: ServerResponse,
  result: APIGatewayProxyResult,
  requestId: string,
  acceptsBinary: boolean,
): void {
  const headers: Record<string, string | string[]> = { 'x-amzn-RequestId': requestId };
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {}))
    headers[name] = values.map(String);
  res.writeHead(result.statusCode, headers);
  const decode = result.isBase64Encoded === true && acceptsBinary;
  res.end(result.body === undefined ? undefined : Buffer.from(result.body, decode ? 'base64' : 'utf8'));
}
