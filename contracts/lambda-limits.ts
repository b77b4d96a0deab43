/**
 * Lambda's payload limit for a synchronous invocation, request and response each: 6 MB ("Lambda
 * quotas", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), counted here as
 * 6 MiB. An API function's proxy event and its result are each held to it: a larger event is refused
 * before the function runs (API Gateway's 413), a larger result fails the invocation (API Gateway's
 * 502), and an SQS event source splits a batch into calls within it.
 */
export const LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** What the proxy event holds beside the body: headers twice (headers and multiValueHeaders), query, request context. */
const PROXY_EVENT_ALLOWANCE_BYTES = 64 * 1024;

/**
 * The largest request body the API is sure to take: 4,669,440 bytes (about 4.45 MiB). Every body
 * reaches the function base64-encoded (4 bytes for 3) inside the proxy event that
 * LAMBDA_SYNC_PAYLOAD_BYTES bounds, and 64 KiB is left for the rest of the event, whose header values
 * API Gateway holds to 10,240 bytes. A body up to about 4.7 MB may pass with few headers; above
 * this one clients (the CLI's `batch submit`) upload to S3 instead.
 */
export const API_REQUEST_BODY_BYTES = ((LAMBDA_SYNC_PAYLOAD_BYTES - PROXY_EVENT_ALLOWANCE_BYTES) / 4) * 3;
