/**
 * API Gateway's own error responses (no Lambda ran), as JSON in the control-plane error shape
 * (`{error: message, code, requestId}`, a string `error` that any Open Inference Protocol client reads).
 * The CDK stack installs one gateway response per type; the local emulator answers with the same table.
 *
 * Every type API Gateway can answer with for a REST API has its own entry, with the status code the
 * type has by default (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html)
 * unless a comment says why it differs. DEFAULT_4XX and DEFAULT_5XX get no status code: setting one
 * would give it to every type of that class without an entry of its own.
 */
export interface GatewayErrorResponse {
  /** API Gateway response type (`AWS::ApiGateway::GatewayResponse` ResponseType). */
  readonly type: string;
  /** Absent only for the two fallbacks, which keep each type's own status code. */
  readonly statusCode?: number;
  readonly code: string;
  readonly message: string;
}

export const GATEWAY_RESPONSES = {
  ACCESS_DENIED: {
    statusCode: 403,
    code: 'FORBIDDEN',
    message: 'the token lacks the scope this route requires',
  },
  API_CONFIGURATION_ERROR: {
    statusCode: 500,
    code: 'API_CONFIGURATION_ERROR',
    message: 'the API could not handle this request as configured',
  },
  AUTHORIZER_CONFIGURATION_ERROR: {
    statusCode: 500,
    code: 'INTERNAL',
    message: 'the request could not be authorized',
  },
  AUTHORIZER_FAILURE: { statusCode: 500, code: 'INTERNAL', message: 'the request could not be authorized' },
  BAD_REQUEST_PARAMETERS: {
    statusCode: 400,
    code: 'BAD_REQUEST',
    message: 'the request parameters are invalid',
  },
  BAD_REQUEST_BODY: { statusCode: 400, code: 'BAD_REQUEST', message: 'the request body is invalid' },
  // AWS credentials (SigV4), not bearer tokens: an expired JWT is UNAUTHORIZED.
  EXPIRED_TOKEN: { statusCode: 403, code: 'EXPIRED_TOKEN', message: 'the AWS security token has expired' },
  // A function error or a malformed proxy result: 502 as API Gateway answers for Lambda proxy, not
  // the type's default 504, so a failing function and a slow one can be told apart.
  INTEGRATION_FAILURE: { statusCode: 502, code: 'BAD_GATEWAY', message: 'the backend failed' },
  INTEGRATION_TIMEOUT: {
    statusCode: 504,
    code: 'GATEWAY_TIMEOUT',
    message: 'the backend did not answer in time',
  },
  INVALID_API_KEY: { statusCode: 403, code: 'INVALID_API_KEY', message: 'the API key is invalid' },
  INVALID_SIGNATURE: {
    statusCode: 403,
    code: 'INVALID_SIGNATURE',
    message: 'the request signature is invalid',
  },
  // API Gateway answers an unknown path or method with this type; a 404 says what happened.
  MISSING_AUTHENTICATION_TOKEN: {
    statusCode: 404,
    code: 'NOT_FOUND',
    message: 'no route matches this method and path',
  },
  QUOTA_EXCEEDED: { statusCode: 429, code: 'THROTTLED', message: 'request quota exceeded' },
  REQUEST_TOO_LARGE: {
    statusCode: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: 'the request body exceeds 10 MB',
  },
  RESOURCE_NOT_FOUND: { statusCode: 404, code: 'NOT_FOUND', message: 'the resource was not found' },
  THROTTLED: { statusCode: 429, code: 'THROTTLED', message: 'too many requests' },
  UNAUTHORIZED: { statusCode: 401, code: 'UNAUTHORIZED', message: 'missing or invalid bearer token' },
  UNSUPPORTED_MEDIA_TYPE: {
    statusCode: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'the request content type is not supported',
  },
  // A managed rule group's block. The per-IP rate rule answers with its own WAF custom response.
  WAF_FILTERED: {
    statusCode: 403,
    code: 'WAF_BLOCKED',
    message: 'the web application firewall blocked the request',
  },
  DEFAULT_4XX: { code: 'BAD_REQUEST', message: 'the request was rejected' },
  DEFAULT_5XX: { code: 'INTERNAL', message: 'internal error' },
} as const satisfies Record<string, Omit<GatewayErrorResponse, 'type'>>;

export type GatewayResponseType = keyof typeof GATEWAY_RESPONSES;

/** The types with a status code of their own: every one but the two fallbacks. */
export type SpecificGatewayResponseType = Exclude<GatewayResponseType, 'DEFAULT_4XX' | 'DEFAULT_5XX'>;

/** The status code a type is installed with; `undefined` for the fallbacks, which set none. */
export function gatewayResponseStatus(type: GatewayResponseType): number | undefined {
  const response: Omit<GatewayErrorResponse, 'type'> = GATEWAY_RESPONSES[type];
  return response.statusCode;
}

/** The body template; `$context.requestId` is filled in by API Gateway (and by the local emulator). */
export function gatewayResponseTemplate(type: GatewayResponseType): string {
  const { code, message } = GATEWAY_RESPONSES[type];
  return JSON.stringify({ error: message, code, requestId: '$context.requestId' });
}

/**
 * What the web ACL's per-IP rate rule answers. A WAF custom response on a Block action takes
 * precedence over the protected API's gateway responses
 * (https://docs.aws.amazon.com/waf/latest/developerguide/customizing-the-response-for-blocked-requests.html),
 * so the client sees this 429, not WAF_FILTERED's 403. WAF sends a static body: no request id.
 */
export const WAF_RATE_LIMITED = {
  statusCode: 429,
  code: 'RATE_LIMITED_BY_IP',
  message: 'too many requests from this IP address; retry later',
} as const;

export function wafRateLimitedBody(): string {
  const { code, message } = WAF_RATE_LIMITED;
  return JSON.stringify({ error: message, code });
}
