/**
 * S3's CORS, which fauxqs leaves out: a bucket's rules answer browsers' preflight requests and add
 * CORS headers to the requests that follow. Rules and their sources (docs/local-platform.md, "S3"):
 * - A preflight (`OPTIONS` on a bucket or object) must carry `Origin` (else 400 "Insufficient
 *   information. Origin request header needed.") and `Access-Control-Request-Method`, one of GET,
 *   PUT, POST, DELETE and HEAD. A bucket without rules answers 403 "CORSResponse: CORS is not enabled
 *   for this bucket." (S3 API reference, "Appendix: OPTIONS object"; S3 User Guide, "Troubleshooting
 *   CORS").
 * - The first rule that matches is used: the origin matches an `AllowedOrigin` (which may hold one
 *   `*` wildcard), the method is one of its `AllowedMethods`, and every header named in
 *   `Access-Control-Request-Headers` matches an `AllowedHeader` (one `*` wildcard each, compared
 *   without case). No match: 403 "CORSResponse: This CORS request is not allowed." (S3 User Guide,
 *   "How does Amazon S3 evaluate the CORS configuration on a bucket?").
 * - A match answers with `Access-Control-Allow-Origin` (the origin sent), `-Allow-Methods` (the
 *   rule's), `-Allow-Headers` (those requested), `-Expose-Headers` and `-Max-Age` (the rule's)
 *   ("Appendix: OPTIONS object", Response Headers). A request that is not a preflight gets the same
 *   headers, bar `-Allow-Headers`, when a rule matches its origin and method.
 */
import type { BucketCorsRule } from '../../contracts/cors';

const METHODS = new Set(['GET', 'PUT', 'POST', 'DELETE', 'HEAD']);

/** What a preflight is answered: its status, headers and, for a refusal, S3's error code and message. */
export type CorsAnswer =
  | { readonly status: 200; readonly headers: Record<string, string> }
  | { readonly status: 400 | 403; readonly code: string; readonly message: string };

/** Whether `value` matches `pattern`, which may hold one `*` standing for any characters. */
function matches(pattern: string, value: string): boolean {
  const star = pattern.indexOf('*');
  if (star < 0) return pattern === value;
  const head = pattern.slice(0, star);
  const tail = pattern.slice(star + 1);
  return value.length >= head.length + tail.length && value.startsWith(head) && value.endsWith(tail);
}

function ruleFor(
  rules: readonly BucketCorsRule[],
  origin: string,
  method: string,
  requestedHeaders: readonly string[] = [],
): BucketCorsRule | undefined {
  return rules.find(
    (rule) =>
      rule.allowedOrigins.some((allowed) => matches(allowed, origin)) &&
      (rule.allowedMethods as readonly string[]).includes(method) &&
      requestedHeaders.every((header) =>
        rule.allowedHeaders.some((allowed) => matches(allowed.toLowerCase(), header)),
      ),
  );
}

function ruleHeaders(rule: BucketCorsRule, origin: string): Record<string, string> {
  return {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': rule.allowedMethods.join(', '),
    ...(rule.exposedHeaders.length > 0
      ? { 'Access-Control-Expose-Headers': rule.exposedHeaders.join(', ') }
      : {}),
    'Access-Control-Max-Age': String(rule.maxAgeSeconds),
    // The answer depends on the origin, so caches must keep answers to different origins apart.
    Vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
  };
}

/** S3's answer to a preflight request on a bucket with `rules` (undefined: no CORS configuration). */
export function preflight(
  rules: readonly BucketCorsRule[] | undefined,
  headers: { origin?: string; method?: string; requestHeaders?: string },
): CorsAnswer {
  const { origin, method, requestHeaders } = headers;
  if (!origin) {
    return {
      status: 400,
      code: 'BadRequest',
      message: 'Insufficient information. Origin request header needed.',
    };
  }
  if (method === undefined || !METHODS.has(method)) {
    return {
      status: 400,
      code: 'BadRequest',
      message: `Invalid Access-Control-Request-Method: ${method ?? 'null'}`,
    };
  }
  if (!rules) {
    return {
      status: 403,
      code: 'AccessForbidden',
      message: 'CORSResponse: CORS is not enabled for this bucket.',
    };
  }
  const requested = (requestHeaders ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  const rule = ruleFor(rules, origin, method, requested);
  if (!rule) {
    return {
      status: 403,
      code: 'AccessForbidden',
      message:
        "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    };
  }
  return {
    status: 200,
    headers: {
      ...ruleHeaders(rule, origin),
      ...(requested.length > 0 ? { 'Access-Control-Allow-Headers': requested.join(', ') } : {}),
    },
  };
}

/** The CORS headers of a request that is not a preflight: none unless a rule matches its origin and method. */
export function corsResponseHeaders(
  rules: readonly BucketCorsRule[] | undefined,
  origin: string | undefined,
  method: string,
): Record<string, string> {
  const rule = origin && rules ? ruleFor(rules, origin, method) : undefined;
  return rule && origin ? ruleHeaders(rule, origin) : {};
}
