/**
 * Lambda's payload limit for a synchronous invocation, request and response each: 6 MB ("Lambda
 * quotas", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), counted here as
 * 6 MiB. An API function's proxy event and its result are each held to it: a larger event is refused
 * before the function runs (API Gateway's 413), a larger result fails the invocation (API Gateway's
 * 502), and an SQS event source splits a batch into calls within it.
 */
export const LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;
