/**
 * What the authorizer and the API edge agree on about a bearer token's lifetime. The authorizer
 * accepts a token up to this many seconds after its `exp` (clocks differ); the edge refuses a
 * request once the same bound has passed, whatever API Gateway's authorizer cache still holds.
 */
export const TOKEN_CLOCK_TOLERANCE_SECONDS = 30;
