/**
 * How the public REST API passes bodies between clients and its Lambda proxy functions, shared by
 * the CDK stack and the local API Gateway emulator. Rules and sources: docs/api-gateway-rules.md.
 *
 * - A request whose Content-Type matches a binary media type reaches the function base64-encoded
 *   (`isBase64Encoded: true`); any other body arrives as UTF-8 text, which does not keep arbitrary
 *   bytes.
 * - A function's base64 answer (`isBase64Encoded: true`) becomes bytes again only when the client's
 *   first Accept media type matches; otherwise the client gets the base64 text.
 * - A request without Content-Type (or Accept) is taken as `application/json`.
 *
 * Triton's own clients send binary tensors with no Content-Type and no Accept at all (the Python
 * client's `infer()` sets only `Inference-Header-Content-Length`), so no list of specific types can
 * carry them: the API treats every type as binary (`*\/*`). Every body then reaches the functions
 * base64-encoded, JSON too, and the functions decode it; their JSON answers are not base64, so they
 * pass through as text.
 */

/** The binary tensor extension on Triton's HTTP API: the JSON header's length rides in `Inference-Header-Content-Length`. */
export const OCTET_STREAM = 'application/octet-stream';

/**
 * The same body as Triton on SageMaker takes it: SageMaker strips custom headers, so the JSON
 * header's length rides in the type's `json-header-size` parameter.
 */
export const SAGEMAKER_TRITON_BINARY = 'application/vnd.sagemaker-triton.binary+json';

/** Every media type: a client of Triton's binary extension need not name one. */
export const BINARY_MEDIA_TYPES: readonly string[] = ['*/*'];

/** What API Gateway takes a request without Content-Type (or Accept) to be. */
export const DEFAULT_MEDIA_TYPE = 'application/json';

/**
 * Whether API Gateway treats a Content-Type or Accept value as binary: its first media type, without
 * parameters (`application/json` when absent), against `types`, where `type/*` and `*\/*` are wildcards.
 */
export function isBinaryMediaType(
  value: string | undefined,
  types: readonly string[] = BINARY_MEDIA_TYPES,
): boolean {
  const [type, subtype, ...rest] = (mediaTypeOf(value) ?? DEFAULT_MEDIA_TYPE).split('/');
  if (!type || !subtype || rest.length > 0) return false;
  return types.some((entry) => {
    const [entryType, entrySubtype] = entry.toLowerCase().split('/');
    return (entryType === '*' || entryType === type) && (entrySubtype === '*' || entrySubtype === subtype);
  });
}

/** The first media type of a header value, lower-cased and without parameters: `application/json`. */
export function mediaTypeOf(value: string | undefined): string | undefined {
  const type = value?.split(',')[0]?.split(';')[0]?.trim().toLowerCase();
  return type || undefined;
}
