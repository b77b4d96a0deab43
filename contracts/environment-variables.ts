/**
 * The names of the environment variables the platform's functions read: the stack and the local
 * platform set them, the catalogue (functions.ts) says which function reads which and how. One
 * constant per name rather than one object, so that a bundle carries only the names it uses: the
 * authorizer, which checks its environment by hand to stay small, imports them from here (bundlers
 * tree-shake `import * as ENV`), without the catalogue's schemas.
 */

/** The registry table (functions/registry/registry.ts). */
export const REGISTRY_TABLE_NAME = 'REGISTRY_TABLE_NAME';
/** How long a container reuses a registry read; the bound on cross-container staleness. */
export const REGISTRY_CACHE_TTL_MS = 'REGISTRY_CACHE_TTL_MS';
/** The counter table of the per-principal rate limit. */
export const RATE_LIMIT_TABLE_NAME = 'RATE_LIMIT_TABLE_NAME';
/** The rate-limit tiers as JSON (contracts/settings.ts). */
export const RATE_LIMIT_TIERS = 'RATE_LIMIT_TIERS';
/** Comma-separated origins allowed by CORS, or `*`. */
export const ALLOWED_ORIGINS = 'ALLOWED_ORIGINS';
/** The counter table of the backends' circuit breakers. */
export const CIRCUIT_TABLE_NAME = 'CIRCUIT_TABLE_NAME';
/** The circuit breaker settings as JSON (contracts/settings.ts). */
export const CIRCUIT_SETTINGS = 'CIRCUIT_SETTINGS';
/** The time in ms that all backend attempts of one request may take. */
export const BACKEND_TIMEOUT_MS = 'BACKEND_TIMEOUT_MS';
/** Comma-separated SageMaker endpoints the functions may invoke; backends must name one of them. */
export const INVOKABLE_ENDPOINT_NAMES = 'INVOKABLE_ENDPOINT_NAMES';
/** The model store's `s3://<bucket>/<prefix>`: the multi-model endpoint's `ModelDataUrl`. */
export const MODEL_STORE_URL = 'MODEL_STORE_URL';
/** Comma-separated archives the deployment keeps in the model store: retirement never deletes them. */
export const SHIPPED_ARCHIVES = 'SHIPPED_ARCHIVES';
/** The stack's own SageMaker endpoint, whose status the readiness route reports. */
export const ENDPOINT_NAME = 'ENDPOINT_NAME';
/** The batch table: jobs, chunks and results. */
export const BATCH_TABLE_NAME = 'BATCH_TABLE_NAME';
/** The batch data bucket: input files and results (`contracts/batch-data.ts`). */
export const BATCH_DATA_BUCKET = 'BATCH_DATA_BUCKET';
/** How long a finished batch job and its data are kept (seconds; `batchRetentionDays` deployed). */
export const BATCH_RETENTION_SECONDS = 'BATCH_RETENTION_SECONDS';
/** The event bus a batch job's end is published on (docs/batch.md, "Job ended event"). */
export const BATCH_EVENT_BUS_NAME = 'BATCH_EVENT_BUS_NAME';
/** The queue of submitted batch jobs, which the fan-out function drains. */
export const SUBMISSIONS_QUEUE_URL = 'SUBMISSIONS_QUEUE_URL';
/** The queue of batch chunks, which the worker drains. */
export const WORK_QUEUE_URL = 'WORK_QUEUE_URL';
/** The work queue's maxReceiveCount, named in the reason of a dead-lettered chunk's items. */
export const WORK_MAX_RECEIVE_COUNT = 'WORK_MAX_RECEIVE_COUNT';
/** How long a batch chunk waits for its model through an outage before its items fail (seconds). */
export const BATCH_OUTAGE_BUDGET_SECONDS = 'BATCH_OUTAGE_BUDGET_SECONDS';
/** How long a running batch job may make no progress before it ends with its items failed (seconds). */
export const BATCH_STALL_TIMEOUT_SECONDS = 'BATCH_STALL_TIMEOUT_SECONDS';
/** The most chunks of one batch job on the work queue or in a worker at once (its window). */
export const BATCH_WORK_WINDOW = 'BATCH_WORK_WINDOW';
/** The work queue's dead-letter queue, which the dead-letter consumer tells from the submissions'. */
export const WORK_DEAD_LETTER_QUEUE_ARN = 'WORK_DEAD_LETTER_QUEUE_ARN';
/** The version the health routes report. */
export const PLATFORM_VERSION = 'PLATFORM_VERSION';
/** HS256 mode: the Secrets Manager secret holding the shared signing key. */
export const JWT_SECRET_ARN = 'JWT_SECRET_ARN';
/** OIDC mode: the issuer's JWKS URL (RS256/ES256). */
export const JWKS_URL = 'JWKS_URL';
/** The `iss` a token must carry, when set. */
export const JWT_ISSUER = 'JWT_ISSUER';
/** The `aud` a token must carry, when set (Cognito access tokens: `client_id`, see JWT_TOKEN_USE). */
export const JWT_AUDIENCE = 'JWT_AUDIENCE';
/** The `typ` header a token must carry, when set (RFC 9068 access tokens: `at+jwt`). */
export const JWT_TOKEN_TYPE = 'JWT_TOKEN_TYPE';
/** The `token_use` claim a token must carry, when set (Amazon Cognito: `access` or `id`). */
export const JWT_TOKEN_USE = 'JWT_TOKEN_USE';
/** Lambda's own session token, which the secrets extension asks for; set by Lambda. */
export const AWS_SESSION_TOKEN = 'AWS_SESSION_TOKEN';
/** The port of the Parameters and Secrets extension; set by the extension's layer. */
export const PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = 'PARAMETERS_SECRETS_EXTENSION_HTTP_PORT';
/** The `service` of a function's log lines and metrics (Powertools); the catalogue's `serviceName`. */
export const POWERTOOLS_SERVICE_NAME = 'POWERTOOLS_SERVICE_NAME';
/** The multi-model endpoint that pushed versions are served by; unset on a single-model endpoint. */
export const MODEL_UPLOAD_ENDPOINT_NAME = 'MODEL_UPLOAD_ENDPOINT_NAME';
/** The queue of warm-up inferences for pushed versions (`contracts/model-warmup.ts`). */
export const WARMUP_QUEUE_URL = 'WARMUP_QUEUE_URL';
/** The warm-up queue's dead-letter queue, which the warm-up function also drains. */
export const WARMUP_DEAD_LETTER_QUEUE_ARN = 'WARMUP_DEAD_LETTER_QUEUE_ARN';
