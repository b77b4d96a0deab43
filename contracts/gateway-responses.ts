/**
 * API Gateway's own error responses (no Lambda ran), as JSON in the control-plane error shape.
 * The CDK stack installs them as gateway responses; the local emulator answers with the same table.
 */
export interface GatewayErrorResponse {
  /** API Gateway response type (`AWS::ApiGateway::GatewayResponse` ResponseType). */
  readonly type: string;
  readonly statusCode: number;
  readonly code: string;
  readonly message: string;
}

export const GATEWAY_RESPONSES = {
  UNAUTHORIZED: { statusCode: 401, code: 'UNAUTHORIZED', message: 'missing or invalid bearer token' },
  EXPIRED_TOKEN: { statusCode: 401, code: 'UNAUTHORIZED', message: 'the bearer token has expired' },
  ACCESS_DENIED: {
    statusCode: 403,
    code: 'FORBIDDEN',
    message: 'the token lacks the scope this route requires',
  },
  // API Gateway answers an unknown path or method with this type; a 404 says what happened.
  MISSING_AUTHENTICATION_TOKEN: {
    statusCode: 404,
    code: 'NOT_FOUND',
    message: 'no route matches this method and path',
  },
  THROTTLED: { statusCode: 429, code: 'THROTTLED', message: 'too many requests' },
  QUOTA_EXCEEDED: { statusCode: 429, code: 'THROTTLED', message: 'request quota exceeded' },
  REQUEST_TOO_LARGE: {
    statusCode: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: 'the request body exceeds 10 MB',
  },
  BAD_REQUEST_BODY: { statusCode: 400, code: 'BAD_REQUEST', message: 'the request body is invalid' },
  BAD_REQUEST_PARAMETERS: {
    statusCode: 400,
    code: 'BAD_REQUEST',
    message: 'the request parameters are invalid',
  },
  AUTHORIZER_FAILURE: { statusCode: 500, code: 'INTERNAL', message: 'the request could not be authorized' },
  AUTHORIZER_CONFIGURATION_ERROR: {
    statusCode: 500,
    code: 'INTERNAL',
    message: 'the request could not be authorized',
  },
  INTEGRATION_FAILURE: { statusCode: 502, code: 'BAD_GATEWAY', message: 'the backend failed' },
  INTEGRATION_TIMEOUT: {
    statusCode: 504,
    code: 'GATEWAY_TIMEOUT',
    message: 'the backend did not answer in time',
  },
  DEFAULT_4XX: { statusCode: 400, code: 'BAD_REQUEST', message: 'the request was rejected' },
  DEFAULT_5XX: { statusCode: 500, code: 'INTERNAL', message: 'internal error' },
} as const satisfies Record<string, Omit<GatewayErrorResponse, 'type'>>;

export type GatewayResponseType = keyof typeof GATEWAY_RESPONSES;

/** The body template; `$context.requestId` is filled in by API Gateway (and by the local emulator). */
export function gatewayResponseTemplate(type: GatewayResponseType): string {
  const { code, message } = GATEWAY_RESPONSES[type];
  return JSON.stringify({ error: { code, message, requestId: '$context.requestId' } });
}
