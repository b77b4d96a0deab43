import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { corsHeaders } from '../../contracts/cors';
import { GATEWAY_RESPONSES } from '../../contracts/gateway-responses';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../contracts/lambda-limits';
import { METRIC, outcomeOf } from '../../contracts/metric-catalog';
import { logger } from '../observability/logger';
import { metrics } from '../observability/metrics';
import { RateLimitedError, ResponseTooLargeError } from './errors';
import { type ErrorStyle, errorResponse, header, json, requestIdOf } from './http';
import { authorizationExpired, type Principal, principalOf } from './principal';
import { type RateLimiter, rateLimitHeaders } from './rate-limiter';

/** What a route's result may take of Lambda's payload limit: the rest is for the headers added below. */
const RESPONSE_BUDGET_BYTES = LAMBDA_SYNC_PAYLOAD_BYTES - 16 * 1024;

export interface ApiRequest {
  readonly event: APIGatewayProxyEvent;
  readonly requestId: string;
  /** The caller; present on every route behind the authorizer. */
  readonly principal?: Principal;
  /**
   * Names the registered model version that served the request: its log lines and the request's
   * metrics then carry it. Only registered names go into metric dimensions, never a path as sent.
   */
  servedBy(model: string, version: string): void;
}

export type ApiRoute = (request: ApiRequest) => Promise<APIGatewayProxyResult>;

export interface ApiHandlerOptions {
  /** Error body style: the Open Inference Protocol's or the control plane's. */
  readonly errorStyle: ErrorStyle;
  readonly allowedOrigins: readonly string[];
  /** Spends the principal's budget before the route runs; public routes have no principal and skip it. */
  readonly rateLimiter?: Pick<RateLimiter, 'consume'>;
}

/**
 * The edge every API function shares: request id, CORS and rate-limit headers on every response,
 * the rate limit itself, and one mapping of thrown errors to JSON responses.
 */
export function apiHandler(route: ApiRoute, options: ApiHandlerOptions) {
  return async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
    const started = performance.now();
    const requestId = requestIdOf(event);
    const principal = principalOf(event);
    logger.appendKeys({ requestId, principal: principal?.sub, model: event.pathParameters?.model });
    let served: { model: string; version: string } | undefined;
    const servedBy = (model: string, version: string) => {
      served = { model, version };
      logger.appendKeys({ model, modelVersion: version });
    };
    const headers: Record<string, string> = {
      'X-Request-Id': requestId,
      ...corsHeaders(options.allowedOrigins, header(event, 'origin')),
    };
    let result: APIGatewayProxyResult;
    try {
      if (authorizationExpired(event)) throw new TokenExpiredError();
      if (principal && options.rateLimiter) {
        const decision = await options.rateLimiter.consume(principal);
        Object.assign(headers, rateLimitHeaders(decision));
        if (decision.degraded) {
          logger.warn('rate limiter unavailable; decided from the failure allowance');
          metrics.addMetric(METRIC.rateLimiterDegraded, MetricUnit.Count, 1);
        }
        if (!decision.allowed) {
          metrics.addMetric(METRIC.rateLimited, MetricUnit.Count, 1);
          throw new RateLimitedError(decision.retryAfterSeconds ?? 1);
        }
      }
      result = await route({ event, requestId, principal, servedBy });
      const bytes = mayBeTooLarge(result) ? Buffer.byteLength(JSON.stringify(result)) : 0;
      if (bytes > RESPONSE_BUDGET_BYTES) {
        throw new ResponseTooLargeError(
          `the answer is ${bytes} bytes, over the 6 MiB an API answer may carry (Lambda's payload limit); ask for less (fewer outputs, binary outputs, a smaller page) or run it as a batch job, whose results can go to S3`,
        );
      }
    } catch (error) {
      result =
        error instanceof TokenExpiredError
          ? expiredToken(requestId)
          : errorResponse(error, requestId, options.errorStyle);
    }
    recordRequest(result.statusCode, performance.now() - started, served);
    return { ...result, headers: { ...result.headers, ...headers } };
  };
}

/**
 * Whether a result could be over the budget: a body character takes at most 6 bytes in the result's
 * JSON (a control character escaped as `\u00XX`) and a route's own headers far less than 64 KiB, so
 * ordinary answers cost no second serialization.
 */
function mayBeTooLarge(result: APIGatewayProxyResult): boolean {
  return (result.body?.length ?? 0) * 6 + 64 * 1024 > RESPONSE_BUDGET_BYTES;
}

class TokenExpiredError extends Error {}

/**
 * API Gateway's own answer to an expired token, in its shape whatever the route's error style: the
 * edge stands in for the gateway, whose cached decision outlived the token.
 */
function expiredToken(requestId: string): APIGatewayProxyResult {
  // UNAUTHORIZED, as the authorizer answers an expired token; EXPIRED_TOKEN is for AWS credentials.
  const { statusCode, code } = GATEWAY_RESPONSES.UNAUTHORIZED;
  return json(statusCode, { error: 'the bearer token has expired', code, requestId }, requestId);
}

/** The request metrics, flushed with the invocation: by outcome, and by model version when one served it. */
function recordRequest(statusCode: number, elapsedMs: number, served?: { model: string; version: string }) {
  const outcome = outcomeOf(statusCode);
  metrics.addDimension('outcome', outcome);
  if (served) metrics.addDimensions(served);
  metrics.addMetric(METRIC.requests, MetricUnit.Count, 1);
  metrics.addMetric(METRIC.latency, MetricUnit.Milliseconds, elapsedMs);
  metrics.addMetric(METRIC.serverErrors, MetricUnit.Count, outcome === 'server_error' ? 1 : 0);
}
