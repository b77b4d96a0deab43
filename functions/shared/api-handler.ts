import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { corsHeaders } from '../../lib/cors';
import { RateLimitedError } from './errors';
import { type ErrorStyle, errorResponse, header, requestIdOf } from './http';
import { logger } from './observability/logger';
import { metrics } from './observability/metrics';
import { type Principal, principalOf } from './principal';
import { type RateLimiter, rateLimitHeaders } from './rate-limiter';

export interface ApiRequest {
  readonly event: APIGatewayProxyEvent;
  readonly requestId: string;
  /** The caller; present on every route behind the authorizer. */
  readonly principal?: Principal;
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
    const requestId = requestIdOf(event);
    const principal = principalOf(event);
    logger.appendKeys({ requestId, principal: principal?.sub, model: event.pathParameters?.model });
    const headers: Record<string, string> = {
      'X-Request-Id': requestId,
      ...corsHeaders(options.allowedOrigins, header(event, 'origin')),
    };
    let result: APIGatewayProxyResult;
    try {
      if (principal && options.rateLimiter) {
        const decision = await options.rateLimiter.consume(principal);
        Object.assign(headers, rateLimitHeaders(decision));
        if (decision.degraded) {
          logger.warn('rate limiter unavailable; request let through');
          metrics.addMetric('RateLimiterDegraded', 'Count', 1);
        }
        if (!decision.allowed) {
          metrics.addMetric('RateLimited', 'Count', 1);
          throw new RateLimitedError(decision.retryAfterSeconds ?? 1);
        }
      }
      result = await route({ event, requestId, principal });
    } catch (error) {
      result = errorResponse(error, requestId, options.errorStyle);
    }
    return { ...result, headers: { ...result.headers, ...headers } };
  };
}
