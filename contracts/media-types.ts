/**
 * Media types the public REST API treats as binary, shared by the CDK stack and the local API
 * Gateway emulator so both pass the same bodies through the same way. API Gateway hands a request
 * whose Content-Type is one of them to the function base64-encoded (anything else arrives as UTF-8
 * text, which does not keep arbitrary bytes), and turns a function's base64 answer back into bytes
 * only for a client whose first Accept media type is one of them.
 */

/** The binary tensor extension on Triton's HTTP API: the JSON header's length rides in `Inference-Header-Content-Length`. */
export const OCTET_STREAM = 'application/octet-stream';

/**
 * The same body as Triton on SageMaker takes it: SageMaker strips custom headers, so the JSON
 * header's length rides in the type's `json-header-size` parameter.
 */
export const SAGEMAKER_TRITON_BINARY = 'application/vnd.sagemaker-triton.binary+json';

/**
 * Matched on type and subtype with parameters ignored (as `multipart/form-data; boundary=...`
 * matches `multipart/form-data`), so the SageMaker type needs no wildcard. Never `*\/*`: that would
 * base64-encode JSON bodies too.
 */
export const BINARY_MEDIA_TYPES: readonly string[] = [OCTET_STREAM, SAGEMAKER_TRITON_BINARY];

/**
 * Whether API Gateway treats a Content-Type or Accept value as binary: its first media type, without
 * parameters, against `types`, where an entry `type/*` covers a whole type.
 */
export function isBinaryMediaType(
  value: string | undefined,
  types: readonly string[] = BINARY_MEDIA_TYPES,
): boolean {
  const [type, subtype, ...rest] = mediaTypeOf(value)?.split('/') ?? [];
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
