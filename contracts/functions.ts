/**
 * Every Lambda function of the platform: its handler, what it does, the service it reports as and
 * the environment it reads. The stack (lib/) and the local platform build their functions from this
 * table; the Lambda code parses its environment with the schemas here once, when its module loads,
 * so a misconfigured function fails its first cold start.
 */
import * as ENV from './environment-variables';
import { SERVICE_NAMES, type ServiceName } from './metric-catalog';
import { CircuitSettingsSchema, RateLimitTiersSchema } from './settings';
import * as z from './zod';

/** Service name of the functions that emit no catalogued metrics (the deployment custom resource, the key rotation). */
export const DEFAULT_SERVICE_NAME = 'inference-platform';

export interface FunctionSpec {
  /** Its name where none is generated: the local runtime's function name, kebab-case. */
  readonly name: string;
  /** Handler file exporting `handler`, relative to the repository root. */
  readonly entry: string;
  /** What it does, shown in the console. */
  readonly description: string;
  /** POWERTOOLS_SERVICE_NAME: the `service` of its log lines and the `service` dimension of its metrics. */
  readonly serviceName: ServiceName | typeof DEFAULT_SERVICE_NAME;
  /** Every variable it reads, as it parses them. */
  readonly environment: z.ZodMiniObject;
}

const nonEmpty = z.string().check(z.minLength(1));

/** A variable holding a JSON document, which must then satisfy `schema`. */
function json<T extends z.core.$ZodType>(schema: T) {
  return z.pipe(
    z.pipe(
      z.string(),
      z.transform((s: string) => JSON.parse(s) as unknown),
    ),
    schema,
  );
}

const allowedOrigins = z.pipe(
  z._default(z.string(), '*'),
  z.transform((s: string) => s.split(',').map((o) => o.trim())),
);

const retention = { [ENV.BATCH_RETENTION_SECONDS]: z.coerce.number().check(z.int(), z.positive()) };
/** The functions that can end a job (its last chunk counted, a stall, dead letters) publish that it ended. */
const jobEvents = { [ENV.BATCH_EVENT_BUS_NAME]: nonEmpty };

const registryReads = {
  [ENV.REGISTRY_TABLE_NAME]: nonEmpty,
  [ENV.REGISTRY_CACHE_TTL_MS]: z._default(z.coerce.number().check(z.int(), z.minimum(0)), 5_000),
};

/** What every function behind the authorizer reads through functions/edge/api-runtime.ts. */
export const API_ENVIRONMENT = z.object({
  ...registryReads,
  [ENV.RATE_LIMIT_TABLE_NAME]: nonEmpty,
  [ENV.RATE_LIMIT_TIERS]: json(RateLimitTiersSchema),
  [ENV.ALLOWED_ORIGINS]: allowedOrigins,
});

/** What a function that calls model backends reads through functions/inference/backend-runtime.ts. */
export const BACKEND_ENVIRONMENT = z.object({
  [ENV.CIRCUIT_TABLE_NAME]: nonEmpty,
  [ENV.CIRCUIT_SETTINGS]: json(CircuitSettingsSchema),
  // Unset, the function's own default applies (backendDependencies).
  [ENV.BACKEND_TIMEOUT_MS]: z.optional(z.coerce.number().check(z.int(), z.positive())),
});

/** What the queue-driven batch functions read through functions/batch/queue-runtime.ts. */
export const QUEUE_ENVIRONMENT = z.object({
  [ENV.BATCH_TABLE_NAME]: nonEmpty,
  [ENV.BATCH_DATA_BUCKET]: nonEmpty,
  ...retention,
  ...jobEvents,
  ...registryReads,
});

export const FUNCTIONS = {
  health: {
    name: 'health',
    entry: 'functions/handlers/health/handler.ts',
    description: 'Liveness, readiness, version and the OpenAPI document',
    serviceName: SERVICE_NAMES.health,
    environment: z.object({
      [ENV.PLATFORM_VERSION]: z._default(nonEmpty, 'unknown'),
      [ENV.ALLOWED_ORIGINS]: allowedOrigins,
      [ENV.ENDPOINT_NAME]: nonEmpty,
    }),
  },
  inference: {
    name: 'inference',
    entry: 'functions/handlers/inference/handler.ts',
    description: 'Open Inference Protocol: model metadata, readiness and inference',
    serviceName: SERVICE_NAMES.inference,
    environment: z.extend(API_ENVIRONMENT, BACKEND_ENVIRONMENT.shape),
  },
  models: {
    name: 'models',
    entry: 'functions/handlers/models/handler.ts',
    description: 'Model registry: versions, signatures, backends and aliases',
    serviceName: SERVICE_NAMES.models,
    environment: z.extend(API_ENVIRONMENT, {
      [ENV.INVOKABLE_ENDPOINT_NAMES]: z.pipe(
        nonEmpty,
        z.transform((s: string) => s.split(',').map((name) => name.trim())),
      ),
      // A deleted or disabled version's archive on this endpoint is removed from this store.
      [ENV.ENDPOINT_NAME]: nonEmpty,
      [ENV.SHIPPED_ARCHIVES]: z.pipe(
        z._default(z.string(), ''),
        z.transform((s: string) => s.split(',').filter((name) => name !== '')),
      ),
      [ENV.MODEL_STORE_URL]: z
        .string()
        .check(z.regex(/^s3:\/\/[^/]+\/.*$/, 'must be s3://<bucket>/<prefix>')),
      // Pushing a version needs a multi-model endpoint; without one the upload routes answer 409.
      [ENV.MODEL_UPLOAD_ENDPOINT_NAME]: z.optional(nonEmpty),
      // A pushed version's warm-up goes on this queue.
      [ENV.WARMUP_QUEUE_URL]: nonEmpty,
    }),
  },
  modelWarmup: {
    name: 'model-warmup',
    entry: 'functions/handlers/model-warmup/handler.ts',
    description: 'Warms up each pushed model version and marks it ACTIVE or FAILED',
    serviceName: SERVICE_NAMES.modelWarmup,
    environment: z.extend(BACKEND_ENVIRONMENT, {
      [ENV.REGISTRY_TABLE_NAME]: nonEmpty,
      // A warm-up that meets a loading model is queued again, delayed.
      [ENV.WARMUP_QUEUE_URL]: nonEmpty,
      // Its records are warm-ups that failed every delivery: their versions end FAILED.
      [ENV.WARMUP_DEAD_LETTER_QUEUE_ARN]: nonEmpty,
    }),
  },
  batch: {
    name: 'batch',
    entry: 'functions/handlers/batch-api/handler.ts',
    description: 'Batch inference jobs: submit, list, read, results and cancel',
    serviceName: SERVICE_NAMES.batch,
    environment: z.extend(API_ENVIRONMENT, {
      [ENV.BATCH_TABLE_NAME]: nonEmpty,
      [ENV.BATCH_DATA_BUCKET]: nonEmpty,
      [ENV.SUBMISSIONS_QUEUE_URL]: nonEmpty,
      ...retention,
    }),
  },
  authorizer: {
    name: 'authorizer',
    entry: 'functions/handlers/authorizer/handler.ts',
    description: 'Verifies bearer JWTs and returns an IAM policy for the scopes they carry',
    serviceName: SERVICE_NAMES.authorizer,
    // The handler checks these by hand (exactly one of the secret and the JWKS URL): this bundle's
    // size is the first request's latency, so it carries no schema library.
    environment: z.object({
      [ENV.JWT_SECRET_ARN]: z.optional(z.string()),
      [ENV.JWKS_URL]: z.optional(z.string()),
      [ENV.JWT_ISSUER]: z.optional(z.string()),
      [ENV.JWT_AUDIENCE]: z.optional(z.string()),
      [ENV.JWT_TOKEN_TYPE]: z.optional(z.string()),
      [ENV.JWT_TOKEN_USE]: z.optional(z.string()),
      [ENV.AWS_SESSION_TOKEN]: z.optional(z.string()),
      [ENV.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT]: z.optional(z.string()),
    }),
  },
  batchFanOut: {
    name: 'batch-fan-out',
    entry: 'functions/handlers/batch-fan-out/handler.ts',
    description: 'Batch inference: validates submitted jobs and splits them into chunks on the work queue',
    serviceName: SERVICE_NAMES.batchFanOut,
    environment: z.extend(QUEUE_ENVIRONMENT, {
      [ENV.WORK_QUEUE_URL]: nonEmpty,
      // The fan-out queues each running job's stall check on its own queue.
      [ENV.SUBMISSIONS_QUEUE_URL]: nonEmpty,
      [ENV.BATCH_STALL_TIMEOUT_SECONDS]: z.coerce.number().check(z.int(), z.positive()),
      [ENV.BATCH_WORK_WINDOW]: z.coerce.number().check(z.int(), z.positive()),
    }),
  },
  batchWorker: {
    name: 'batch-worker',
    entry: 'functions/handlers/batch-worker/handler.ts',
    description: 'Batch inference: runs the items of each chunk against the model endpoint',
    serviceName: SERVICE_NAMES.batchWorker,
    environment: z.extend(QUEUE_ENVIRONMENT, {
      ...BACKEND_ENVIRONMENT.shape,
      // The worker queues a chunk again, delayed, while its model is unavailable.
      [ENV.WORK_QUEUE_URL]: nonEmpty,
      [ENV.BATCH_OUTAGE_BUDGET_SECONDS]: z.coerce.number().check(z.int(), z.positive()),
      // A counted chunk releases the next of its job's chunks.
      [ENV.BATCH_WORK_WINDOW]: z.coerce.number().check(z.int(), z.positive()),
    }),
  },
  batchDeadLetters: {
    name: 'batch-dead-letters',
    entry: 'functions/handlers/batch-dead-letters/handler.ts',
    description: 'Batch inference: records the items of dead-lettered chunks and submissions as failed',
    serviceName: SERVICE_NAMES.batchDeadLetters,
    environment: z.object({
      [ENV.BATCH_TABLE_NAME]: nonEmpty,
      ...retention,
      ...jobEvents,
      [ENV.BATCH_DATA_BUCKET]: nonEmpty,
      [ENV.WORK_DEAD_LETTER_QUEUE_ARN]: nonEmpty,
      [ENV.WORK_MAX_RECEIVE_COUNT]: z.coerce.number().check(z.int(), z.minimum(1)),
    }),
  },
  deployment: {
    name: 'deployment',
    entry: 'functions/handlers/deployment/handler.ts',
    description: 'Copies model archives to the model store and seeds the registry at deploy time',
    serviceName: DEFAULT_SERVICE_NAME,
    environment: z.object({ [ENV.REGISTRY_TABLE_NAME]: nonEmpty }),
  },
  keyRotation: {
    name: 'key-rotation',
    entry: 'functions/handlers/key-rotation/handler.ts',
    description: 'Rotates the HS256 token signing key when Secrets Manager schedules a rotation',
    serviceName: DEFAULT_SERVICE_NAME,
    // Secrets Manager names the secret in every rotation event.
    environment: z.object({}),
  },
} as const satisfies Record<string, FunctionSpec>;

export type FunctionName = keyof typeof FUNCTIONS;

/** The functions behind the API's routes (routes.ts names them), each behind the API Gateway integration. */
export const API_FUNCTION_NAMES = [
  'health',
  'inference',
  'models',
  'batch',
] as const satisfies readonly FunctionName[];
export type ApiFunctionName = (typeof API_FUNCTION_NAMES)[number];
