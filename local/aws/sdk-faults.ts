/**
 * Faults injected below the AWS SDK in local Lambda containers, for what the emulators cannot do
 * themselves: DynamoDB throttling and a function crashing mid-invocation. The local runtime preloads
 * this module into every container before the handler (see `install`); the handlers stay unaware.
 *
 * The plan lives in a SharedArrayBuffer that the platform writes and every container reads, so a
 * change reaches running and future containers at once, and counters are shared across containers:
 * which call gets a fault depends only on the seed and the call's number, not on timing.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import * as z from 'zod';
import { unitOf } from '../seeded-random';

export const dynamoDbFaultSchema = z.strictObject({
  /** Share of DynamoDB calls (HTTP attempts, so SDK retries included) answered with throttling. */
  throttleRate: z.number().min(0).max(1),
  /** Only these operations (`UpdateItem`, `GetItem`, ...); every operation when unset. */
  operations: z
    .array(z.string().regex(/^[A-Za-z]+$/))
    .min(1)
    .optional(),
  /** `ProvisionedThroughputExceededException` (the default) or `ThrottlingException`. */
  error: z.enum(['ProvisionedThroughputExceededException', 'ThrottlingException']).optional(),
  seed: z.number().int().optional(),
});
export type DynamoDbFault = z.infer<typeof dynamoDbFaultSchema>;

export const crashFaultSchema = z.strictObject({
  /** The function whose container exits. */
  function: z.string().min(1),
  /**
   * The container exits right after the n-th SageMaker answer of the function (counted across its
   * containers from when the plan is set), before the handler sees it.
   */
  afterSageMakerCalls: z.number().int().min(1).default(1),
  /** That many crashes, on consecutive calls from the n-th on. */
  times: z.number().int().min(1).default(1),
});
export type CrashFault = z.infer<typeof crashFaultSchema>;

export interface SdkFaultPlan {
  readonly dynamodb?: DynamoDbFault;
  readonly crash?: CrashFault;
}

export interface SdkFaultStats {
  /** DynamoDB calls the throttling plan applied to, and how many of them were throttled. */
  readonly dynamodbCalls: number;
  readonly dynamodbThrottled: number;
  /** SageMaker answers the crash plan counted, and containers it ended. */
  readonly sageMakerCalls: number;
  readonly crashes: number;
  /**
   * Every request the functions' SDK clients sent since the platform started, by service, faults or
   * not: what a workload costs in calls (the bench's requests per 1,000 batch items).
   */
  readonly requests: {
    readonly dynamodb: number;
    readonly s3: number;
    readonly sqs: number;
    readonly sagemaker: number;
  };
}

// Int32 slots: a seqlock over the JSON plan, then shared counters.
const SEQ = 0;
const LENGTH = 1;
const DYNAMODB_CALLS = 2;
const THROTTLED = 3;
const SAGEMAKER_CALLS = 4;
const CRASHES = 5;
const DYNAMODB_REQUESTS = 6;
const S3_REQUESTS = 7;
const SQS_REQUESTS = 8;
const SAGEMAKER_REQUESTS = 9;
const HEADER_BYTES = 12 * 4;
const PLAN_BYTES = 16 * 1024;

/** The platform's side: owns the shared plan. */
export class SdkFaults {
  readonly buffer = new SharedArrayBuffer(HEADER_BYTES + PLAN_BYTES);
  readonly #slots = new Int32Array(this.buffer, 0, HEADER_BYTES / 4);
  #plan: SdkFaultPlan = {};

  get plan(): SdkFaultPlan {
    return this.#plan;
  }

  stats(): SdkFaultStats {
    return {
      dynamodbCalls: Atomics.load(this.#slots, DYNAMODB_CALLS),
      dynamodbThrottled: Atomics.load(this.#slots, THROTTLED),
      sageMakerCalls: Atomics.load(this.#slots, SAGEMAKER_CALLS),
      crashes: Atomics.load(this.#slots, CRASHES),
      requests: {
        dynamodb: Atomics.load(this.#slots, DYNAMODB_REQUESTS),
        s3: Atomics.load(this.#slots, S3_REQUESTS),
        sqs: Atomics.load(this.#slots, SQS_REQUESTS),
        sagemaker: Atomics.load(this.#slots, SAGEMAKER_REQUESTS),
      },
    };
  }

  /** Replaces the parts of the plan given (undefined removes one). */
  set(update: { dynamodb?: DynamoDbFault | undefined; crash?: CrashFault | undefined }): SdkFaultPlan {
    const plan: Record<string, unknown> = { ...this.#plan, ...update };
    for (const key of Object.keys(plan)) if (plan[key] === undefined) delete plan[key];
    const bytes = new TextEncoder().encode(JSON.stringify(plan));
    if (bytes.length > PLAN_BYTES) throw new Error('fault plan too large');
    Atomics.add(this.#slots, SEQ, 1); // odd: being written
    new Uint8Array(this.buffer, HEADER_BYTES, PLAN_BYTES).set(bytes);
    Atomics.store(this.#slots, LENGTH, bytes.length);
    // A new plan counts from zero; a removed one keeps its counts for reading.
    if (update.dynamodb) {
      Atomics.store(this.#slots, DYNAMODB_CALLS, 0);
      Atomics.store(this.#slots, THROTTLED, 0);
    }
    if (update.crash) {
      Atomics.store(this.#slots, SAGEMAKER_CALLS, 0);
      Atomics.store(this.#slots, CRASHES, 0);
    }
    Atomics.add(this.#slots, SEQ, 1);
    this.#plan = plan as SdkFaultPlan;
    return this.#plan;
  }

  clear(): void {
    this.set({ dynamodb: undefined, crash: undefined });
  }
}

/** The container's view of the plan: re-read only when the platform changed it. */
class PlanReader {
  readonly #slots: Int32Array;
  readonly #bytes: Uint8Array;
  #seq = -1;
  #plan: SdkFaultPlan = {};

  constructor(readonly buffer: SharedArrayBuffer) {
    this.#slots = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#bytes = new Uint8Array(buffer, HEADER_BYTES, PLAN_BYTES);
  }

  get plan(): SdkFaultPlan {
    for (;;) {
      const seq = Atomics.load(this.#slots, SEQ);
      if (seq === this.#seq) return this.#plan;
      if (seq % 2 === 1) continue; // a write in progress: it takes microseconds
      const length = Atomics.load(this.#slots, LENGTH);
      const text = new TextDecoder().decode(this.#bytes.slice(0, length));
      if (Atomics.load(this.#slots, SEQ) !== seq) continue;
      this.#seq = seq;
      this.#plan = length === 0 ? {} : (JSON.parse(text) as SdkFaultPlan);
      return this.#plan;
    }
  }

  /** Adds one to a shared counter and returns its new value. */
  count(slot: number): number {
    return Atomics.add(this.#slots, slot, 1) + 1;
  }
}

interface HttpRequestLike {
  readonly path: string;
  readonly headers: Record<string, string>;
}
type Handle = (this: unknown, request: HttpRequestLike, options?: unknown) => Promise<{ response: unknown }>;

const SAGEMAKER_INVOCATION = /^\/endpoints\/[^/]+\/invocations$/;

/**
 * Run in a container before its handler loads: wraps the HTTP handler the SDK clients send through
 * (the one @aws-sdk/client-dynamodb and client-sagemaker-runtime resolve), so a throttled call comes
 * back as DynamoDB's real 400 and the SDK builds, classifies and retries the exception itself.
 */
export function install(data: unknown, container: { readonly functionName: string }): void {
  if (!(data instanceof SharedArrayBuffer)) throw new Error('sdk-faults: expected the shared fault plan');
  const reader = new PlanReader(data);
  const root = createRequire(import.meta.url);
  const patched = new Set<object>();
  for (const client of ['@aws-sdk/client-dynamodb', '@aws-sdk/client-sagemaker-runtime']) {
    const fromClient = createRequire(root.resolve(client));
    const { NodeHttpHandler } = fromClient('@smithy/node-http-handler') as {
      NodeHttpHandler: { prototype: { handle: Handle } };
    };
    const { HttpResponse } = fromClient('@smithy/core/protocols') as {
      HttpResponse: new (init: {
        statusCode: number;
        headers: Record<string, string>;
        body: unknown;
      }) => unknown;
    };
    const proto = NodeHttpHandler.prototype;
    if (patched.has(proto)) continue;
    patched.add(proto);
    const original = proto.handle;
    proto.handle = async function (this: unknown, request, options) {
      const plan = reader.plan;
      const target = headerOf(request.headers, 'x-amz-target');
      const service = serviceOf(request);
      if (service) reader.count(service);
      if (plan.dynamodb && target?.startsWith('DynamoDB_')) {
        const operation = target.slice(target.indexOf('.') + 1);
        const {
          throttleRate,
          operations,
          seed = 1,
          error = 'ProvisionedThroughputExceededException',
        } = plan.dynamodb;
        if (!operations || operations.includes(operation)) {
          const n = reader.count(DYNAMODB_CALLS);
          if (unitOf(seed, n) < throttleRate) {
            reader.count(THROTTLED);
            const body = JSON.stringify({
              __type: `com.amazonaws.dynamodb.v20120810#${error}`,
              message: `${operation} throttled (a fault injected by the local platform)`,
            });
            return {
              response: new HttpResponse({
                statusCode: 400,
                headers: {
                  'content-type': 'application/x-amz-json-1.0',
                  'content-length': String(Buffer.byteLength(body)),
                  'x-amzn-requestid': 'LOCALFAULT',
                },
                body: Readable.from([Buffer.from(body)]),
              }),
            };
          }
        }
      }
      const answer = await original.call(this, request, options);
      const crash = plan.crash;
      if (crash?.function === container.functionName && SAGEMAKER_INVOCATION.test(request.path)) {
        const n = reader.count(SAGEMAKER_CALLS);
        if (n >= crash.afterSageMakerCalls && n < crash.afterSageMakerCalls + crash.times) {
          reader.count(CRASHES);
          process.stderr.write(
            `local fault: ${container.functionName} container exits after SageMaker call ${n}\n`,
          );
          // In a worker thread this ends the thread only: the container dies mid-invocation.
          process.exit(1);
        }
      }
      return answer;
    };
  }
}

/** The counter of each counted service, by its SigV4 signing name. */
const COUNTED_SERVICES: Record<string, number> = {
  dynamodb: DYNAMODB_REQUESTS,
  s3: S3_REQUESTS,
  sqs: SQS_REQUESTS,
  sagemaker: SAGEMAKER_REQUESTS,
};

/**
 * Which counted service a request goes to: the service its SigV4 signature is scoped to, the fourth
 * field of the `Credential` in its `Authorization` header (`AKID/date/region/service/aws4_request`;
 * "Signature Version 4 signing elements", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-elements.html).
 * EventBridge and Secrets Manager are not counted.
 */
function serviceOf(request: HttpRequestLike): number | undefined {
  const scope = /Credential=[^/]*\/[^/]*\/[^/]*\/([^/]+)\//.exec(
    headerOf(request.headers, 'authorization') ?? '',
  );
  return scope ? COUNTED_SERVICES[scope[1]!] : undefined;
}

function headerOf(headers: Record<string, string>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/**
 * DynamoDB's per-partition write limit, for simulations that drive one item harder than any local
 * machine can: every partition serves at most 1,000 write units a second, and neither burst nor
 * adaptive capacity lifts that ("DynamoDB burst and adaptive capacity",
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html;
 * every partition is held to 1,000 write units and 3,000 read units a second,
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html).
 * An item can never be split across partitions, so one key gets at most that rate. Modelled per key
 * per second of the given clock (so simulated time works); a write over the rate is throttled with
 * `ProvisionedThroughputExceededException`, as a hot partition is.
 */
export class PartitionWriteLimit {
  readonly #seconds = new Map<string, { second: number; writes: number }>();
  writes = 0;
  throttled = 0;

  constructor(
    readonly writesPerSecond = 1000,
    readonly now: () => number = Date.now,
  ) {}

  /** Counts one write to `key`; false when the key's partition has no write capacity left this second. */
  admit(key: string): boolean {
    this.writes++;
    const second = Math.floor(this.now() / 1000);
    let slot = this.#seconds.get(key);
    if (!slot || slot.second !== second) {
      slot = { second, writes: 0 };
      this.#seconds.set(key, slot);
    }
    if (slot.writes >= this.writesPerSecond) {
      this.throttled++;
      return false;
    }
    slot.writes++;
    return true;
  }
}

interface WriteInput {
  readonly TableName?: string;
  readonly Key?: Record<string, unknown>;
}

/** The writes whose input names the item's key (a PutItem's key depends on the table's schema). */
const WRITE_COMMANDS = new Set(['UpdateItemCommand', 'DeleteItemCommand']);

/**
 * Applies `limit` to every single-item write `client` sends: inside the SDK's retry step, so each
 * attempt is counted and a throttled attempt is retried as the SDK retries a real throttle.
 */
export function limitWritesPerKey(
  client: { middlewareStack: { add: (...args: never[]) => void } },
  limit: PartitionWriteLimit,
): void {
  const { ProvisionedThroughputExceededException } = createRequire(import.meta.url)(
    '@aws-sdk/client-dynamodb',
  ) as typeof import('@aws-sdk/client-dynamodb');
  const middleware =
    (next: (args: { input: WriteInput }) => Promise<unknown>, context: { commandName?: string }) =>
    async (args: { input: WriteInput }) => {
      if (context.commandName && WRITE_COMMANDS.has(context.commandName)) {
        const { TableName, Key } = args.input;
        if (!limit.admit(`${TableName}/${JSON.stringify(Key)}`)) {
          throw new ProvisionedThroughputExceededException({
            message:
              'The level of configured provisioned throughput for the table was exceeded (a partition write limit modelled by the local platform)',
            $metadata: { httpStatusCode: 400 },
          });
        }
      }
      return next(args);
    };
  (client.middlewareStack.add as (m: unknown, o: unknown) => void)(middleware, {
    step: 'finalizeRequest',
    priority: 'low',
    name: 'partitionWriteLimit',
  });
}
