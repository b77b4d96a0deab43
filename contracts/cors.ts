/**
 * CORS settings shared by the CDK stack and the local API Gateway emulator, so a browser sees the
 * same preflight answers from both.
 */

/** Request headers browsers may send cross-origin. */
export const CORS_ALLOW_HEADERS = [
  'Authorization',
  'Content-Type',
  'X-Request-Id',
  'Idempotency-Key',
  'Inference-Header-Content-Length',
  // A compressed request body (gzip or deflate), which the API and Triton take.
  'Content-Encoding',
] as const;

/** How long a browser may reuse a preflight answer. */
export const CORS_MAX_AGE_SECONDS = 3600;

/**
 * The `Access-Control-Allow-Origin` value of API Gateway's own error responses. A gateway response
 * has static headers, so it cannot pick one origin out of several: only `*` or a single origin is set.
 */
export function gatewayResponseOrigin(allowedOrigins: readonly string[]): string | undefined {
  return allowedOrigins.length === 1 ? allowedOrigins[0] : undefined;
}

/** Response headers a browser script may read. */
export const CORS_EXPOSE_HEADERS = [
  'X-Request-Id',
  'X-Model-Version',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
  'Retry-After',
  'Location',
  'Inference-Header-Content-Length',
] as const;

/**
 * CORS headers for a response to `origin`: `*` when any origin is allowed, else the origin itself
 * when it is on the list (with `Vary: Origin` so caches keep answers apart), else none; allowed
 * origins may read the platform's own response headers.
 */
export function corsHeaders(
  allowedOrigins: readonly string[],
  origin: string | undefined,
): Record<string, string> {
  const expose = { 'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS.join(',') };
  if (allowedOrigins.includes('*')) return { 'Access-Control-Allow-Origin': '*', ...expose };
  if (origin && allowedOrigins.includes(origin)) {
    return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin', ...expose };
  }
  return {};
}

/** One CORS rule of a bucket, in the terms of S3's CORSRule. */
export interface BucketCorsRule {
  readonly allowedMethods: readonly ('GET' | 'HEAD' | 'PUT')[];
  readonly allowedOrigins: readonly string[];
  readonly allowedHeaders: readonly string[];
  readonly exposedHeaders: readonly string[];
  readonly maxAgeSeconds: number;
}

/**
 * The rule of a bucket a client reaches through presigned URLs, for the origins the API allows:
 * browsers preflight such a request like any other, and without a rule S3 answers the preflight 403
 * and the page never sends it. Any request header is allowed, since the URL's signature, not CORS,
 * decides which headers count; `ETag` is exposed because a multipart upload completes with each
 * part's ETag. Shared by the stack and the local S3 emulator.
 */
function presignedUrlCors(
  allowedOrigins: readonly string[],
  allowedMethods: BucketCorsRule['allowedMethods'],
): BucketCorsRule[] {
  return [
    {
      allowedMethods,
      allowedOrigins,
      allowedHeaders: ['*'],
      exposedHeaders: ['ETag'],
      maxAgeSeconds: CORS_MAX_AGE_SECONDS,
    },
  ];
}

/** The model store: pushed archives are uploaded (`models push`), never read by clients. */
export const modelStoreCors = (allowedOrigins: readonly string[]) =>
  presignedUrlCors(allowedOrigins, ['PUT']);

/** The batch data bucket: input files are uploaded, results read through their links. */
export const batchDataCors = (allowedOrigins: readonly string[]) =>
  presignedUrlCors(allowedOrigins, ['GET', 'HEAD', 'PUT']);
