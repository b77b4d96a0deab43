import * as z from 'zod';
import type { CircuitSettings } from '../contracts/settings';
import { RateLimitTiersSchema } from '../contracts/settings';
import type { AlarmThresholds } from './platform-alarms';
import { instanceTypeProblem, tritonRegionProblem, tritonVersionProblem } from './triton-base-image';

/**
 * Deployment configuration, read from `cdk.json` context (or `-c key=value`) and validated at synth.
 * Keys are flat so each can be overridden on the command line; numbers and lists accept strings.
 */
const csv = z.union([
  z.array(z.string()),
  z.string().transform((s) => (s ? s.split(',').map((x) => x.trim()) : [])),
]);

/** SageMaker's endpoint name pattern (CreateEndpoint's `EndpointName`). */
const ENDPOINT_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;

/** An object from cdk.json, or the same object as a JSON string from `-c key='{...}'`. */
const jsonObject = (value: unknown) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value; // left as a string, so the schema reports it with the value
  }
};

/**
 * How long the batch queues keep a message: SQS's default `MessageRetentionPeriod`, 4 days (CreateQueue
 * in the SQS API reference), which the stack leaves as it is.
 */
export const SQS_RETENTION_SECONDS = 345_600;
/** What the configured lists may take of an API function's 4 KB environment. */
const LISTED_ENVIRONMENT_BYTES = 3000;
/** An origin as RFC 6454 serializes it (`*` for any): scheme, host (a name or a bracketed IPv6 address) and port. */
const ORIGIN = /^(\*|[a-z][a-z0-9+.-]*:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?)$/;

export const PlatformConfigSchema = z
  .object({
    /** Region to deploy to; picks the Triton base image's registry account. */
    region: z
      .string()
      .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'region must look like us-east-1')
      .default('us-east-1'),
    /** SageMaker instance type for the Triton endpoint (a GPU type in production). */
    instanceType: z
      .string()
      .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'instanceType must look like ml.g5.xlarge')
      .default('ml.g5.xlarge'),
    /** Instances the endpoint starts with. */
    initialInstanceCount: z.coerce.number().int().min(1).max(100).default(1),
    /** Fewest instances autoscaling keeps (real-time endpoints cannot scale to zero). */
    minInstanceCount: z.coerce.number().int().min(1).max(100).default(1),
    /** Most instances autoscaling adds. */
    maxInstanceCount: z.coerce.number().int().min(1).max(100).default(2),
    /** Target of `SageMakerVariantInvocationsPerInstance` (invocations per instance per minute). */
    targetInvocationsPerInstance: z.coerce.number().int().min(1).default(1000),
    /**
     * `multi-model`: every model in the repository is served (`Mode: MultiModel`, one model.tar.gz per
     * model, `TargetModel` per request). `single-model`: only `defaultModelName` is served.
     */
    servingMode: z.enum(['multi-model', 'single-model']).default('multi-model'),
    /** Tag of the SageMaker Triton image (`sagemaker-tritonserver:<tag>`). */
    tritonImageVersion: z
      .string()
      .regex(/^\d{2}\.\d{2}-py3$/, 'tritonImageVersion must look like 24.09-py3')
      .default('24.09-py3'),
    /**
     * SageMaker endpoints besides the stack's own that model versions may name as backends (a
     * standby or canary). The functions may invoke exactly these and the stack's endpoint; the
     * models API refuses a backend naming any other.
     */
    additionalEndpointNames: csv
      .pipe(z.array(z.string().regex(ENDPOINT_NAME, 'each must be a SageMaker endpoint name')))
      .default([]),
    /**
     * Build and push the serving image from `triton-image/` (needs Docker at deploy) instead of
     * serving AWS's published Triton image as it is. Only for backends the published image lacks.
     */
    customImage: z
      .preprocess(
        (v) => (v === 'true' ? true : v === 'false' ? false : v),
        z.boolean({ error: 'must be true or false' }),
      )
      .default(false),
    /** Model the endpoint serves by default (`SAGEMAKER_TRITON_DEFAULT_MODEL_NAME`). */
    defaultModelName: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/)
      .default('simple'),
    /**
     * JWKS URL of an OIDC issuer; when set, tokens are RS256/ES256 checked against it instead of
     * HS256, and `jwtIssuer` and `jwtAudience` are required.
     */
    jwksUrl: z.url({ protocol: /^https$/ }).optional(),
    /** Expected `iss` claim; checked when set, required with `jwksUrl`. */
    jwtIssuer: z.string().min(1).optional(),
    /**
     * Expected `aud` claim (with `jwtTokenUse: access`, the `client_id` claim of Cognito access
     * tokens); checked when set, required with `jwksUrl`.
     */
    jwtAudience: z.string().min(1).optional(),
    /** Expected `typ` header, such as `at+jwt` for RFC 9068 access tokens; checked when set. */
    jwtTokenType: z
      .string()
      .regex(/^[\x21-\x7e]{1,64}$/, 'jwtTokenType must be a media type such as at+jwt')
      .optional(),
    /** Expected `token_use` claim of Amazon Cognito tokens (`access` or `id`); checked when set. */
    jwtTokenUse: z.enum(['access', 'id']).optional(),
    /**
     * HS256 mode: days between scheduled rotations of the signing key (Secrets Manager's `rate()`
     * schedules allow 1 to 999). A token signed just before a rotation verifies until the next one,
     * which Secrets Manager may run at any hour of its day, so keep token lifetimes at most this
     * many days less one.
     */
    jwtKeyRotationDays: z.coerce.number().int().min(1).max(999).default(30),
    /**
     * Origins allowed by CORS; `*` allows any. Each as a browser sends it in `Origin` (RFC 6454):
     * scheme, host and port, with no path or trailing slash, which would never match; at most 255
     * characters, the longest header value the web ACL's custom responses take.
     */
    allowedOrigins: csv
      .pipe(
        z
          .array(
            z
              .string()
              .max(255, 'each must be at most 255 characters, the longest header value the firewall sends')
              .regex(
                ORIGIN,
                'each must be * or an origin as browsers send it: scheme://host[:port], with no path or trailing slash',
              ),
          )
          .min(1),
      )
      .default(['*']),
    /**
     * Seconds API Gateway caches an authorizer decision per token. Expiry does not wait for it (the
     * API edge checks `exp` on every request); a token refused for any other reason does.
     */
    authorizerCacheTtlSeconds: z.coerce.number().int().min(0).max(3600).default(300),
    /**
     * API Gateway's throttling of each method of the stage (not of the stage as a whole): steady
     * requests per second and burst.
     */
    throttleRateLimit: z.coerce.number().min(1).default(1000),
    throttleBurstLimit: z.coerce.number().int().min(1).default(2000),
    /**
     * Create API Gateway's CloudWatch Logs role and set it in the account's settings, replacing any
     * role already set there for every API of the account and region. Only for an account without one.
     */
    apiGatewayCloudWatchRole: z
      .preprocess(
        (v) => (v === 'true' ? true : v === 'false' ? false : v),
        z.boolean({ error: 'must be true or false' }),
      )
      .default(false),
    /**
     * Requests one client IP may send in five minutes before the web application firewall blocks it.
     * Unset: twice what one client of the fastest `rateLimitTiers` tier may send; never less than once.
     */
    wafRateLimitPerIp: z.coerce.number().int().min(10).max(2_000_000_000).optional(),
    /** Retryable backend failures within `circuitWindowSeconds` that open a backend's circuit. */
    circuitFailureThreshold: z.coerce.number().int().min(1).default(5),
    circuitWindowSeconds: z.coerce.number().int().min(1).max(3600).default(30),
    /** How long an open circuit answers 503 before one probe request may go through. */
    circuitCooldownSeconds: z.coerce.number().int().min(1).max(3600).default(30),
    /**
     * Receives of a batch message (submission or chunk) before it moves to its dead-letter queue. At
     * least 5: a throttled or briefly failing worker returns messages to the queue, and Lambda's
     * guidance for SQS event sources is a maxReceiveCount of at least 5
     * (https://docs.aws.amazon.com/lambda/latest/operatorguide/sqs-retries.html).
     */
    batchMaxReceiveCount: z.coerce
      .number()
      .int()
      .min(5, {
        message:
          'must be at least 5: Lambda recommends a maxReceiveCount of 5 or more for SQS event sources, so that throttled or briefly failing invocations do not dead-letter messages (https://docs.aws.amazon.com/lambda/latest/operatorguide/sqs-retries.html)',
      })
      .max(1000)
      .default(5),
    /**
     * Most batch workers running at once (the work queue event source's maximum concurrency), which
     * bounds batch traffic toward the endpoints. Lambda accepts 2-1000.
     */
    batchWorkerConcurrency: z.coerce.number().int().min(2).max(1000).default(4),
    /**
     * Work-queue messages (chunks) one worker invocation receives. One by default: a container that
     * crashes fails every record of its invocation, so with more, one poison chunk would take its
     * batch-mates' deliveries (and, three times over, dead-letter them).
     */
    batchWorkerBatchSize: z.coerce.number().int().min(1).max(10).default(1),
    /**
     * Timeout of one worker invocation; the work queue's visibility timeout is six times this. At
     * least one full InvokeEndpoint wait (60 s) plus room to record the outcome.
     */
    batchWorkerTimeoutSeconds: z.coerce.number().int().min(90).max(900).default(120),
    /**
     * How long a batch chunk waits for its model through an outage (every backend failing or its
     * circuit open) before its items fail. 15 minutes rides out a container restart or an instance
     * replacement on the endpoint and fails a job on a broken version within the hour.
     */
    batchOutageBudgetSeconds: z.coerce.number().int().min(10).max(86_400).default(900),
    /**
     * How long a running batch job may record no chunk before it ends, its unrecorded items failed.
     * Longer than the outage budget plus a worker's run, so no chunk that is still waiting for its
     * model is failed as stalled; two hours also leaves room for a job queued behind large ones.
     */
    batchStallTimeoutSeconds: z.coerce.number().int().min(60).max(1_209_600).default(7200),
    /**
     * Days a finished batch job, its results and its input files are kept before they expire
     * (DynamoDB TTL on the job's items, S3 lifecycle rules on the batch data bucket).
     */
    batchRetentionDays: z.coerce.number().int().min(1).max(3650).default(30),
    /**
     * Age of the oldest message on a batch queue that raises its alarm. Under the queues' retention:
     * no message gets older.
     */
    batchOldestMessageAgeAlarmSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(SQS_RETENTION_SECONDS - 1, {
        message: `must be under ${SQS_RETENTION_SECONDS} s, the batch queues' retention (SQS's default, 4 days): no message gets older, so the alarm would never fire`,
      })
      .default(900),
    /** E-mail address subscribed to the alarm topic; without one the topic has no subscribers. */
    alarmEmail: z.email().optional(),
    /** Share of API requests answered with a 5xx (percent, over 5 minutes) that raises the alarm. */
    apiServerErrorRateAlarmPercent: z.coerce
      .number()
      .gt(0)
      .lt(100, { message: 'must be under 100: the alarm fires above it, and no share exceeds 100 %' })
      .default(1),
    /**
     * API Gateway p99 latency (ms, over 5 minutes) that raises the alarm. Under the integration
     * timeout (29 s), past which no request lasts.
     */
    apiLatencyP99AlarmMs: z.coerce
      .number()
      .int()
      .min(1)
      .max(28_999, {
        message: "must be under 29,000 ms, API Gateway's integration timeout: no request lasts longer",
      })
      .default(2000),
    /**
     * SageMaker p99 model latency (ms, over 5 minutes) that raises the alarm. Under InvokeEndpoint's
     * 60 s, past which no invocation lasts.
     */
    modelLatencyP99AlarmMs: z.coerce
      .number()
      .int()
      .min(1)
      .max(59_999, { message: 'must be under 60,000 ms, the longest an InvokeEndpoint call runs' })
      .default(1000),
    /** Endpoint `Invocation5XXErrors` in 5 minutes that raise the alarm. */
    endpointServerErrorsAlarmCount: z.coerce.number().int().min(1).default(5),
    /** Errors of one function in 5 minutes that raise its alarm. */
    lambdaErrorsAlarmCount: z.coerce.number().int().min(1).default(5),
    /** Throttles of one function in 5 minutes that raise its alarm. */
    lambdaThrottlesAlarmCount: z.coerce.number().int().min(1).default(1),
    /** Circuit breakers opened (every function that keeps circuits, together) in 5 minutes that raise the alarm. */
    circuitOpenedAlarmCount: z.coerce.number().int().min(1).default(1),
    /** Per-principal limits by the token's `tier` claim; tokens without a known tier get `standard`. */
    rateLimitTiers: z.preprocess(jsonObject, RateLimitTiersSchema).default({
      standard: { limit: 600, windowSeconds: 60 },
      premium: { limit: 6000, windowSeconds: 60 },
      trial: { limit: 60, windowSeconds: 60 },
    }),
  })
  .strict()
  .refine((c) => !c.jwksUrl || (c.jwtIssuer && c.jwtAudience), {
    message:
      'jwksUrl needs jwtIssuer and jwtAudience: an identity provider signs tokens for every client it serves, and without both checks any of those tokens would be accepted',
    path: ['jwksUrl'],
  })
  .superRefine((c, ctx) => {
    // Only what AWS publishes and SageMaker hosts can deploy (lib/triton-base-image.ts has the sources).
    const problems = {
      region: tritonRegionProblem(c.region),
      tritonImageVersion: tritonVersionProblem(c.tritonImageVersion),
      instanceType: instanceTypeProblem(c.instanceType, c.servingMode),
    };
    for (const [key, message] of Object.entries(problems)) {
      if (message) ctx.addIssue({ code: 'custom', path: [key], message });
    }
  })
  .superRefine((c, ctx) => {
    // A chunk still waiting out an outage must not be failed as stalled (lib/batch-pipeline.ts).
    const waiting = c.batchOutageBudgetSeconds + c.batchWorkerTimeoutSeconds;
    if (c.batchStallTimeoutSeconds <= waiting) {
      ctx.addIssue({
        code: 'custom',
        path: ['batchStallTimeoutSeconds'],
        params: { crossKey: true },
        message: `must be longer than batchOutageBudgetSeconds plus batchWorkerTimeoutSeconds (${c.batchOutageBudgetSeconds} + ${c.batchWorkerTimeoutSeconds} = ${waiting} s), got ${c.batchStallTimeoutSeconds}: a chunk still waiting for its model would be failed as stalled`,
      });
    }
    // A chunk failing every delivery comes back after the work queue's visibility timeout (six worker
    // timeouts) each time; it must reach the dead-letter queue before SQS drops it for age.
    const redelivered = c.batchMaxReceiveCount * 6 * c.batchWorkerTimeoutSeconds;
    if (redelivered >= SQS_RETENTION_SECONDS) {
      ctx.addIssue({
        code: 'custom',
        path: ['batchMaxReceiveCount'],
        params: { crossKey: true },
        message: `${c.batchMaxReceiveCount} receives, each after 6 x batchWorkerTimeoutSeconds (${6 * c.batchWorkerTimeoutSeconds} s), take ${redelivered} s: over the batch queues' retention (${SQS_RETENTION_SECONDS} s), so a failing chunk would expire instead of being dead-lettered`,
      });
    }
    // These three go into the API functions' environment, which Lambda limits to 4 KB in all
    // ("Lambda quotas"); the rest of it (table names, URLs, settings) takes under 1 KB.
    const listed =
      c.additionalEndpointNames.join(',').length +
      c.allowedOrigins.join(',').length +
      JSON.stringify(c.rateLimitTiers).length;
    if (listed > LISTED_ENVIRONMENT_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['additionalEndpointNames'],
        params: { crossKey: true },
        message: `additionalEndpointNames, allowedOrigins and rateLimitTiers take ${listed} bytes of the API functions' environment, over the ${LISTED_ENVIRONMENT_BYTES} they may: Lambda allows 4 KB of environment variables per function`,
      });
    }
  })
  .superRefine((c, ctx) => {
    const { minInstanceCount: min, initialInstanceCount: initial, maxInstanceCount: max } = c;
    if (min <= initial && initial <= max) return;
    ctx.addIssue({
      code: 'custom',
      // The key named first is one out of order; the message gives all three.
      path: [min > initial ? 'minInstanceCount' : 'initialInstanceCount'],
      params: { crossKey: true },
      message: `instance counts must satisfy minInstanceCount <= initialInstanceCount <= maxInstanceCount, got minInstanceCount ${min}, initialInstanceCount ${initial}, maxInstanceCount ${max}`,
    });
  });

export type PlatformConfig = z.infer<typeof PlatformConfigSchema>;
export const CONFIG_KEYS = Object.keys(PlatformConfigSchema.shape) as (keyof PlatformConfig)[];

/**
 * The circuit breaker settings the inference function gets (`CIRCUIT_SETTINGS`), in AWS and locally.
 * A probe may run as long as every attempt of a request together (25 s) before another container
 * takes it over; containers reuse a read circuit state for one second.
 */
export function circuitSettingsOf(config: PlatformConfig): CircuitSettings {
  return {
    failureThreshold: config.circuitFailureThreshold,
    windowSeconds: config.circuitWindowSeconds,
    cooldownSeconds: config.circuitCooldownSeconds,
    probeTimeoutSeconds: 30,
    cacheTtlMs: 1000,
  };
}

/**
 * The endpoints the platform's functions may invoke: the stack's own first, then the configured
 * ones, each once. The stack grants InvokeEndpoint on exactly these, the models API accepts only
 * these as backends, and the local platform's SageMaker refuses the rest.
 */
export function invokableEndpointNames(
  ownEndpointName: string,
  additionalEndpointNames: readonly string[],
): string[] {
  const names = [ownEndpointName];
  for (const name of additionalEndpointNames) {
    // Endpoint ARNs carry the name in lower case, so names differing only in case are one endpoint.
    if (!names.some((n) => n.toLowerCase() === name.toLowerCase())) names.push(name);
  }
  return names;
}

/** The alarm thresholds of `PlatformAlarms`, in the units CloudWatch reports. */
export function alarmThresholdsOf(config: PlatformConfig): AlarmThresholds {
  return {
    apiServerErrorRatePercent: config.apiServerErrorRateAlarmPercent,
    apiLatencyP99Ms: config.apiLatencyP99AlarmMs,
    modelLatencyP99Ms: config.modelLatencyP99AlarmMs,
    endpointServerErrors: config.endpointServerErrorsAlarmCount,
    lambdaErrors: config.lambdaErrorsAlarmCount,
    lambdaThrottles: config.lambdaThrottlesAlarmCount,
    circuitsOpened: config.circuitOpenedAlarmCount,
  };
}

/**
 * Reads every configuration key through `lookup` (CDK context, or cdk.json for the local platform).
 * A null or empty value (`"jwksUrl": null`, `-c jwksUrl=`) means "not set", so the default applies.
 */
export function readPlatformConfig(lookup: (key: string) => unknown): PlatformConfig {
  const raw: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const value = lookup(key);
    if (value !== undefined && value !== null && value !== '') raw[key] = value;
  }
  return parsePlatformConfig(raw);
}

/** A configuration the platform cannot be built from: its message says which keys and why. */
export class PlatformConfigError extends Error {
  override readonly name = 'PlatformConfigError';
}

/** Validates raw context values; throws one error naming every bad key and its value. */
export function parsePlatformConfig(raw: Record<string, unknown>): PlatformConfig {
  const result = PlatformConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(root)';
      // A check across keys names their values in its message.
      if (issue.code === 'custom' && issue.params?.crossKey) return `${key}: ${issue.message}`;
      return `${key}: ${issue.message} (got ${JSON.stringify(raw[String(issue.path[0])])})`;
    });
    throw new PlatformConfigError(
      `invalid platform configuration in cdk.json context:\n  ${problems.join('\n  ')}`,
    );
  }
  return result.data;
}

/**
 * Context keys CDK itself sets or reads, which are no configuration keys: feature flags
 * (`@aws-cdk/...`), the CLI's own (`aws:cdk:...`), cached lookups (`availability-zones:...`,
 * `ssm:...`), all with `:` or `@`, and the ones cdk.json and cdk.context.json may hold besides.
 */
const CDK_CONTEXT_KEY = /[:@/]/;
const CDK_CONTEXT_KEYS = new Set(['acknowledged-issue-numbers', 'cli-telemetry']);

/**
 * Context keys that are neither configuration keys nor CDK's own: a mistyped `-c instancetype=...`
 * would otherwise be ignored, and the default deployed. Each comes with the configuration key it
 * likely meant, when one is close.
 */
export function unknownContextKeys(context: Record<string, unknown>): string[] {
  const known = new Set<string>(CONFIG_KEYS);
  return Object.keys(context)
    .filter((key) => !known.has(key) && !CDK_CONTEXT_KEY.test(key) && !CDK_CONTEXT_KEYS.has(key))
    .map((key) => {
      const meant = CONFIG_KEYS.find(
        (k) => k.toLowerCase() === key.toLowerCase() || editDistance(k, key) <= 2,
      );
      return meant ? `${key} (did you mean ${meant}?)` : key;
    });
}

/** Levenshtein distance, for suggesting a configuration key. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}
