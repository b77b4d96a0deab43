import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  APIGatewayRequestAuthorizerEvent,
  CloudFormationCustomResourceEvent,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import { batchDataLifecycleRules } from '../contracts/batch-data';
import { batchDataCors, modelStoreCors } from '../contracts/cors';
import * as ENV from '../contracts/environment-variables';
import { API_FUNCTION_NAMES, FUNCTIONS, type FunctionSpec } from '../contracts/functions';
import { METRICS_NAMESPACE } from '../contracts/metric-catalog';
import { batchWorkWindow } from '../contracts/settings';
import { BATCH_KEYS, COUNTER_KEYS } from '../contracts/table-keys';
import { circuitSettingsOf, invokableEndpointNames, type PlatformConfig } from '../lib/config';
import { stageModelArchive } from '../lib/model-archive';
import { MODEL_STORE_PREFIX, modelArchiveName, servedModels, tritonBackend } from '../lib/served-models';
import { loadModelRepository, type ModelDefinition } from '../triton-image/model-repository';
import { type ApiGatewayEmulatorOptions, lambdaContext, startApiGateway } from './aws/api-gateway';
import { createBatchTable, createCounterTable, createRegistryTable, startDynamoDb } from './aws/dynamodb';
import { type LocalEventBridge, startEventBridge } from './aws/eventbridge';
import type { FunctionOutputBus } from './aws/function-output';
import { type LambdaFunction, LambdaRuntime } from './aws/lambda-runtime';
import { startPlatformControl } from './aws/platform-control';
import { type LocalS3, startS3 } from './aws/s3';
import { startS3LifecycleSweeper } from './aws/s3-lifecycle';
import { SdkFaults } from './aws/sdk-faults';
import { startSecretsManager } from './aws/secrets-manager';
import { type LocalSqs, startSqs } from './aws/sqs';
import { startSqsEventSource } from './aws/sqs-event-source';
import { startTtlSweeper, type TtlTable } from './aws/ttl-sweeper';
import { type LocalBatchQueues, localBatchQueues } from './batch-queues';
import { startConsole } from './console/server';
import { devSigningSecret } from './dev-credentials';
import { LOCAL_STANDBY_ENDPOINT, readLocalConfig } from './local-config';
import { startModelServer } from './model-server/server';
import { createWarmUpQueue, LOCAL_WARMUP_SOURCE } from './model-warmup';
import { asRedeploy } from './redeploy';
import { openStateDir } from './state-dir';

export { LOCAL_STANDBY_ENDPOINT, readLocalConfig };

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MODEL_REPOSITORY = `${ROOT}triton-image/model_repository`;
const REGION = 'us-east-1';
const REGISTRY_TABLE = 'inference-platform-registry';
const RATE_LIMIT_TABLE = 'inference-platform-rate-limits';
const CIRCUIT_TABLE = 'inference-platform-circuits';
const BATCH_TABLE = 'inference-platform-batch';
/** The model store and the bucket CDK publishes its assets to, as a deployment has them. */
export const MODEL_STORE_BUCKET = 'inference-platform-model-store';
/** Batch input files and results (`contracts/batch-data.ts`). */
export const BATCH_DATA_BUCKET = 'inference-platform-batch-data';
const ASSET_BUCKET = 'cdk-assets';
/** The local multi-model endpoint's memory for loaded models, unless `LOCAL_MODEL_MEMORY_BYTES` says otherwise. */
const DEFAULT_MODEL_MEMORY_BYTES = 1024 ** 3;
/** The table names the local functions find in their environment, for tools that run a handler beside them. */
export const LOCAL_TABLE_ENVIRONMENT = {
  [ENV.REGISTRY_TABLE_NAME]: REGISTRY_TABLE,
  [ENV.RATE_LIMIT_TABLE_NAME]: RATE_LIMIT_TABLE,
  [ENV.CIRCUIT_TABLE_NAME]: CIRCUIT_TABLE,
  [ENV.BATCH_TABLE_NAME]: BATCH_TABLE,
} as const;
/** The tables whose TTL the stack enables, with the attribute it names. */
export const LOCAL_TTL_TABLES: readonly TtlTable[] = [
  {
    tableName: BATCH_TABLE,
    keys: [BATCH_KEYS.partitionKey, BATCH_KEYS.sortKey],
    attribute: BATCH_KEYS.ttlAttribute,
  },
  ...[RATE_LIMIT_TABLE, CIRCUIT_TABLE].map((tableName) => ({
    tableName,
    keys: [COUNTER_KEYS.partitionKey],
    attribute: COUNTER_KEYS.ttlAttribute,
  })),
];
/** The bus batch jobs publish their end on, as the stack's BatchEventBus. */
const BATCH_EVENT_BUS = 'inference-platform-batch-events';
const SUBMISSIONS_QUEUE = 'inference-platform-batch-submissions';
const WORK_QUEUE = 'inference-platform-batch-work';
/** Containers per API function at most: further requests wait for a free one. */
export const API_FUNCTION_CONCURRENCY = 10;
/** The stack's function timeouts: API Gateway's integration timeout for API functions, else the default. */
const API_FUNCTION_TIMEOUT_MS = 29_000;
const AUTHORIZER_TIMEOUT_MS = 10_000;
/** How long close() lets batch invocations in flight finish before it terminates their containers. */
const CLOSE_GRACE_MS = 5_000;
const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:000000000000:secret:inference-platform/jwt-signing-key`;
/** One local endpoint serves every model, as a multi-model SageMaker endpoint does (TargetModel). */
export const LOCAL_ENDPOINT = 'local-triton';

export interface LocalPlatformOptions {
  /** Port of the API; 0 picks a free one. @default 3000 */
  readonly apiPort?: number;
  /** Port of the model server's Triton HTTP and SageMaker Runtime APIs; 0 picks a free one. @default 8000 */
  readonly tritonPort?: number;
  /** Port of the local console (models, batch jobs, traffic); 0 picks a free one. @default 3001 */
  readonly consolePort?: number;
  /** Port of the control API (platform-control.ts); without it (or `LOCAL_CONTROL_PORT`) none starts. */
  readonly controlPort?: number;
  /**
   * Where DynamoDB, S3 and SQS keep their state across restarts (state-dir.ts); without it they run in
   * memory and the platform forgets everything when it stops.
   */
  readonly stateDir?: string;
  /** Empties `stateDir` before starting. */
  readonly freshState?: boolean;
}

export interface LocalPlatform {
  readonly apiUrl: string;
  readonly modelServerUrl: string;
  /** The local console: a page of models, batch jobs and traffic charts. */
  readonly consoleUrl: string;
  readonly dynamodbUrl: string;
  readonly sqsUrl: string;
  /** The S3 emulator holding the model store (`MODEL_STORE_BUCKET`). */
  readonly s3Url: string;
  /** Where SQS clients send batch submissions (with `endpoint` set to `sqsUrl`). */
  readonly submissionsQueueUrl: string;
  /** The EventBridge emulator: every batch job-ended event published so far. */
  readonly eventBridge: LocalEventBridge;
  readonly config: PlatformConfig;
  readonly models: readonly ModelDefinition[];
  /** Every line the functions' containers print; EMF metric documents come parsed. */
  readonly output: FunctionOutputBus;
  /** The control API (recycling, SDK faults), when a control port was given. */
  readonly controlUrl?: string;
  /** Faults injected below the SDK in every function container (sdk-faults.ts). */
  readonly sdkFaults: SdkFaults;
  /** The functions in their local containers: how many run and how many cold starts they had. */
  readonly functions: readonly LambdaFunction[];
  /** Where the emulators keep their state, when they do not run in memory. */
  readonly stateDir?: string;
  /** Drops every function container and its in-memory state, as when Lambda recycles containers. */
  recycleFunctions(): Promise<void>;
  close(): Promise<void>;
}

/** What the local functions may invoke: the local endpoint in the stack endpoint's place, then the configured ones. */
export function localInvokableEndpoints(config: PlatformConfig): string[] {
  return invokableEndpointNames(LOCAL_ENDPOINT, config.additionalEndpointNames);
}

/**
 * Starts the whole platform on 127.0.0.1 and no other address: DynamoDB (dynalite), SQS (fauxqs), Secrets Manager, the
 * model server, and the API Gateway emulator running the real handlers, which find the emulators
 * only through the same environment variables they read in AWS.
 */
export async function startLocalPlatform(options: LocalPlatformOptions = {}): Promise<LocalPlatform> {
  const config = readLocalConfig();
  const invokable = localInvokableEndpoints(config);
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };
  try {
    // Released last: the emulators write to it until they close.
    const state = options.stateDir
      ? openStateDir(options.stateDir, { fresh: options.freshState })
      : undefined;
    if (state) closers.push(async () => state.release());

    const dynamo = await startDynamoDb({ path: state?.of('dynamodb') });
    closers.push(() => dynamo.close());
    const dynamodbUrl = dynamo.url;

    // On a restart with state, the tables, queues and buckets below exist and are kept as they are.
    const sqs = await startSqs({ region: REGION, stateDir: state?.of('sqs') });
    closers.push(() => sqs.close());
    const queues = localBatchQueues(config);
    const submissions = await createQueueWithDeadLetters(sqs, SUBMISSIONS_QUEUE, queues, 'submissions');
    const work = await createQueueWithDeadLetters(sqs, WORK_QUEUE, queues, 'work');
    const warmUps = await createWarmUpQueue(sqs);

    const s3 = await startS3({ region: REGION, stateDir: state?.of('s3') });
    closers.push(() => s3.close());
    await s3.createBucket(ASSET_BUCKET);
    await s3.createBucket(MODEL_STORE_BUCKET, { cors: modelStoreCors(config.allowedOrigins) });
    await s3.createBucket(BATCH_DATA_BUCKET, { cors: batchDataCors(config.allowedOrigins) });

    // No rules or targets locally: each event is recorded and printed.
    const eventBridge = await startEventBridge({
      buses: [BATCH_EVENT_BUS],
      region: REGION,
      onEvent: (event) =>
        console.log(`[eventbridge] ${event['detail-type']} ${JSON.stringify(event.detail)}`),
    });
    closers.push(() => eventBridge.close());

    const secrets = await startSecretsManager({ [SECRET_ARN]: devSigningSecret() });
    closers.push(() => secrets.close());

    const models = await loadModelRepository(MODEL_REPOSITORY);
    const modelServer = await startModelServer({
      models,
      port: options.tritonPort ?? 8000,
      endpoints: { [LOCAL_ENDPOINT]: {}, [LOCAL_STANDBY_ENDPOINT]: {} },
      // The functions' roles allow InvokeEndpoint on these alone, as the stack grants it.
      invokableEndpoints: invokable,
      // `/local/faults` on the model server: tests and manual runs make the endpoint misbehave.
      faultInjection: true,
      // The endpoint loads each TargetModel from the model store, as a multi-model endpoint does.
      modelStore: { client: s3.client, bucket: MODEL_STORE_BUCKET, prefix: MODEL_STORE_PREFIX },
      // The instance memory its loaded models may take (docs/local-platform.md, "Multi-model endpoint").
      modelMemoryBudgetBytes: Number(process.env.LOCAL_MODEL_MEMORY_BYTES ?? DEFAULT_MODEL_MEMORY_BYTES),
    });
    closers.push(() => modelServer.close());

    // What every function's environment holds, as the stack sets it; this process's own clients use it too.
    const environment: Record<string, string> = {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      // Lambda always sets one; the secrets extension checks it.
      [ENV.AWS_SESSION_TOKEN]: 'local',
      AWS_EC2_METADATA_DISABLED: 'true',
      // Any service without an emulator fails fast on this closed port instead of reaching AWS.
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbUrl,
      AWS_ENDPOINT_URL_SQS: sqs.url,
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      // The authorizer reads its key through the secrets extension's port, as in Lambda.
      [ENV.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT]: String(secrets.port),
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: modelServer.url,
      // DescribeEndpoint, for the readiness route (model-server/sagemaker-control.ts).
      AWS_ENDPOINT_URL_SAGEMAKER: modelServer.url,
      [ENV.ENDPOINT_NAME]: LOCAL_ENDPOINT,
      ...LOCAL_TABLE_ENVIRONMENT,
      // A load test or benchmark can raise the limits without editing cdk.json.
      [ENV.RATE_LIMIT_TIERS]: process.env[ENV.RATE_LIMIT_TIERS] ?? JSON.stringify(config.rateLimitTiers),
      [ENV.ALLOWED_ORIGINS]: config.allowedOrigins.join(','),
      [ENV.CIRCUIT_SETTINGS]: JSON.stringify(circuitSettingsOf(config)),
      [ENV.INVOKABLE_ENDPOINT_NAMES]: invokable.join(','),
      [ENV.MODEL_STORE_URL]: `s3://${MODEL_STORE_BUCKET}/${MODEL_STORE_PREFIX}`,
      [ENV.SHIPPED_ARCHIVES]: shippedArchiveNames(models).join(','),
      [ENV.MODEL_UPLOAD_ENDPOINT_NAME]: LOCAL_ENDPOINT,
      [ENV.BATCH_DATA_BUCKET]: BATCH_DATA_BUCKET,
      [ENV.BATCH_RETENTION_SECONDS]: String(config.batchRetentionSeconds),
      [ENV.BATCH_EVENT_BUS_NAME]: BATCH_EVENT_BUS,
      [ENV.SUBMISSIONS_QUEUE_URL]: submissions.queue.queueUrl,
      [ENV.WORK_QUEUE_URL]: work.queue.queueUrl,
      [ENV.WARMUP_QUEUE_URL]: warmUps.queue.queueUrl,
      [ENV.WARMUP_DEAD_LETTER_QUEUE_ARN]: warmUps.deadLetters.queueArn,
      [ENV.WORK_MAX_RECEIVE_COUNT]: String(queues.maxReceiveCount),
      [ENV.BATCH_OUTAGE_BUDGET_SECONDS]: String(config.batchOutageBudgetSeconds),
      [ENV.BATCH_STALL_TIMEOUT_SECONDS]: String(config.batchStallTimeoutSeconds),
      [ENV.BATCH_WORK_WINDOW]: String(batchWorkWindow(queues.work.maxConcurrency, queues.work.batchSize)),
      [ENV.WORK_DEAD_LETTER_QUEUE_ARN]: work.deadLetters.queueArn,
      [ENV.JWT_SECRET_ARN]: SECRET_ARN,
      ...(config.jwtIssuer ? { [ENV.JWT_ISSUER]: config.jwtIssuer } : {}),
      ...(config.jwtAudience ? { [ENV.JWT_AUDIENCE]: config.jwtAudience } : {}),
      ...(config.jwtTokenType ? { [ENV.JWT_TOKEN_TYPE]: config.jwtTokenType } : {}),
      ...(config.jwtTokenUse ? { [ENV.JWT_TOKEN_USE]: config.jwtTokenUse } : {}),
      [ENV.PLATFORM_VERSION]: packageVersion(),
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      POWERTOOLS_LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
      // No X-Ray daemon locally. Metrics are on: their EMF lines go to the output bus, not CloudWatch.
      POWERTOOLS_TRACE_ENABLED: 'false',
      POWERTOOLS_METRICS_DISABLED: 'false',
      // Lambda runs Node.js 22; the SDK's advice to upgrade a Node.js 20 laptop is noise here.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    Object.assign(process.env, environment);
    delete process.env.AWS_PROFILE;

    const dynamodb = new DynamoDBClient({});
    await createRegistryTable(dynamodb, REGISTRY_TABLE);
    await createCounterTable(dynamodb, RATE_LIMIT_TABLE);
    await createCounterTable(dynamodb, CIRCUIT_TABLE);
    await createBatchTable(dynamodb, BATCH_TABLE);
    dynamodb.destroy();

    // DynamoDB TTL and S3 lifecycle expiration, which the emulators lack (docs/batch.md, "Retention").
    const sweepMs = Math.min(60_000, Math.max(1_000, config.batchRetentionSeconds * 250));
    const ttlClient = new DynamoDBClient({});
    const ttl = startTtlSweeper(ttlClient, LOCAL_TTL_TABLES, { intervalMs: sweepMs });
    const lifecycle = startS3LifecycleSweeper(
      s3.client,
      BATCH_DATA_BUCKET,
      batchDataLifecycleRules(config.batchRetentionDays),
      { intervalMs: sweepMs, dayMs: (config.batchRetentionSeconds * 1000) / config.batchRetentionDays },
    );
    closers.push(async () => {
      await Promise.all([ttl.close(), lifecycle.close()]);
      ttlClient.destroy();
    });

    // Each function runs in its own containers (worker threads), with its own module state and
    // environment; started only now, as handlers read their environment when their module loads.
    // Every container preloads the SDK fault hooks; with no plan set they pass calls straight on.
    const sdkFaults = new SdkFaults();
    const runtime = new LambdaRuntime({
      env: environment,
      preload: { modules: [new URL('./aws/sdk-faults.ts', import.meta.url).href], data: sdkFaults.buffer },
    });
    closers.push(() => runtime.close());
    /** A catalogued function in its own containers, under its service name as in the stack. */
    const define = (spec: FunctionSpec, limits: { maxConcurrency: number; timeoutMs: number }) =>
      runtime.define({
        name: spec.name,
        entry: spec.entry,
        env: { [ENV.POWERTOOLS_SERVICE_NAME]: spec.serviceName },
        ...limits,
      });
    const apiFunctions = API_FUNCTION_NAMES.map((name) =>
      define(FUNCTIONS[name], {
        maxConcurrency: API_FUNCTION_CONCURRENCY,
        timeoutMs: API_FUNCTION_TIMEOUT_MS,
      }),
    );
    const authorizer = define(FUNCTIONS.authorizer, {
      maxConcurrency: API_FUNCTION_CONCURRENCY,
      timeoutMs: AUTHORIZER_TIMEOUT_MS,
    });
    // One warm container per API function, so that the first request is not a cold start and a
    // handler that cannot load fails the start, as it did when handlers loaded in this process.
    await Promise.all([...apiFunctions, authorizer].map((fn) => fn.prewarm()));

    // The deploy-time work of the stack: the shipped models' archives are published as CDK assets
    // and copied into the model store by the deployment function, then the registry is seeded.
    const deployment = define(FUNCTIONS.deployment, { maxConcurrency: 1, timeoutMs: 60_000 });
    const deploy = deployment.handler<CloudFormationCustomResourceEvent, unknown>();
    const deployNow: DeploymentHandler = (event) =>
      deploy(event, lambdaContext(deployment.name, deployment.timeoutMs));
    // On kept state, a start is a redeploy: unchanged resources are left alone (redeploy.ts).
    const runDeployment = state ? asRedeploy(deployNow, path.join(state.dir, 'deployment.json')) : deployNow;
    const archiveNames = await publishModelArchives(s3, models, runDeployment);
    await seedRegistry(models, archiveNames, runDeployment);

    const api = await startApiGateway({
      handlers: Object.fromEntries(
        apiFunctions.map((fn) => [fn.name, fn.handler<APIGatewayProxyEvent, APIGatewayProxyResult>()]),
      ) as ApiGatewayEmulatorOptions['handlers'],
      authorizer: authorizer.handler<APIGatewayRequestAuthorizerEvent, APIGatewayAuthorizerResult>(),
      authorizerCacheTtlSeconds: config.authorizerCacheTtlSeconds,
      allowedOrigins: config.allowedOrigins,
      port: options.apiPort ?? 3000,
    });
    closers.push(() => api.close());

    const fanOut = define(FUNCTIONS.batchFanOut, {
      maxConcurrency: queues.submissions.maxConcurrency,
      timeoutMs: queues.timeoutsMs.fanOut,
    });
    const worker = define(FUNCTIONS.batchWorker, {
      maxConcurrency: queues.work.maxConcurrency,
      timeoutMs: queues.timeoutsMs.worker,
    });
    // One function drains both dead-letter queues, as in the stack: two event sources.
    const deadLetters = define(FUNCTIONS.batchDeadLetters, {
      maxConcurrency: 2,
      timeoutMs: queues.timeoutsMs.deadLetters,
    });
    const warmUp = define(FUNCTIONS.modelWarmup, LOCAL_WARMUP_SOURCE);
    for (const source of [
      { queue: warmUps.queue, fn: warmUp, ...LOCAL_WARMUP_SOURCE },
      { queue: warmUps.deadLetters, fn: warmUp, ...LOCAL_WARMUP_SOURCE },
      { queue: submissions.queue, fn: fanOut, ...queues.submissions },
      { queue: work.queue, fn: worker, ...queues.work },
      { queue: submissions.deadLetters, fn: deadLetters, ...queues.deadLetters },
      { queue: work.deadLetters, fn: deadLetters, ...queues.deadLetters },
    ]) {
      const poller = startSqsEventSource({
        // Queue URLs name no reachable host: the pollers reach the emulator through its own client.
        client: sqs.client,
        queueUrl: source.queue.queueUrl,
        queueArn: source.queue.queueArn,
        functionName: source.fn.name,
        handler: source.fn.handler<SQSEvent, SQSBatchResponse | undefined>(),
        batchSize: source.batchSize,
        maxConcurrency: source.maxConcurrency,
        timeoutMs: source.fn.timeoutMs,
      });
      // Waits for invocations in flight, but not for long: closing the runtime then fails them.
      closers.push(() => within(CLOSE_GRACE_MS, poller.close()));
    }

    const localConsole = await startConsole({
      port: options.consolePort ?? 3001,
      dynamodbUrl,
      registryTable: REGISTRY_TABLE,
      batchTable: BATCH_TABLE,
      output: runtime.output,
      multiModelMetrics: modelServer.multiModelMetrics,
    });
    closers.push(() => localConsole.close());

    const controlPort =
      options.controlPort ??
      (process.env.LOCAL_CONTROL_PORT ? Number(process.env.LOCAL_CONTROL_PORT) : undefined);
    const control =
      controlPort === undefined
        ? undefined
        : await startPlatformControl({
            faults: sdkFaults,
            functions: runtime.functions.map((fn) => fn.name),
            memory: () => Object.fromEntries(runtime.functions.map((fn) => [fn.name, fn.peakMemoryBytes])),
            recycle: () => runtime.recycle(),
            port: controlPort,
          });
    if (control) closers.push(() => control.close());

    return {
      apiUrl: api.url,
      modelServerUrl: modelServer.url,
      consoleUrl: localConsole.url,
      dynamodbUrl,
      sqsUrl: sqs.url,
      s3Url: s3.url,
      submissionsQueueUrl: submissions.queue.queueUrl,
      eventBridge,
      config,
      models,
      output: runtime.output,
      ...(control ? { controlUrl: control.url } : {}),
      sdkFaults,
      functions: runtime.functions,
      ...(state ? { stateDir: state.dir } : {}),
      recycleFunctions: () => runtime.recycle(),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A queue whose messages move to `<name>-dlq` after the configured deliveries, as the stack's do. */
async function createQueueWithDeadLetters(
  sqs: LocalSqs,
  name: string,
  queues: LocalBatchQueues,
  consumer: 'submissions' | 'work',
) {
  const deadLetters = await sqs.createQueue(`${name}-dlq`, {
    VisibilityTimeout: String(queues.visibilityTimeoutSeconds.deadLetters),
  });
  const queue = await sqs.createQueue(name, {
    VisibilityTimeout: String(queues.visibilityTimeoutSeconds[consumer]),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetters.queueArn,
      maxReceiveCount: queues.maxReceiveCount,
    }),
  });
  return { queue, deadLetters };
}

type DeploymentHandler = (event: CloudFormationCustomResourceEvent) => Promise<unknown>;

/**
 * Packs each model as lib/model-store.ts does, puts it in the asset bucket as `cdk deploy` publishes
 * assets, and has the deployment function copy it into the model store (`Custom::ModelArchives`).
 * Returns each model's archive name, its TargetModel.
 */
export async function publishModelArchives(
  s3: LocalS3,
  models: readonly ModelDefinition[],
  deployment: DeploymentHandler,
): Promise<Record<string, string>> {
  const staging = mkdtempSync(path.join(tmpdir(), 'local-model-data-'));
  try {
    const archiveNames: Record<string, string> = {};
    const copies = [];
    for (const { name } of models) {
      const staged = stageModelArchive(MODEL_REPOSITORY, path.join(staging, name), [name]);
      const sourceKey = `${staged.contentHash}.tar.gz`;
      await s3.client.send(
        new PutObjectCommand({ Bucket: ASSET_BUCKET, Key: sourceKey, Body: readFileSync(staged.path) }),
      );
      archiveNames[name] = modelArchiveName(name, staged.contentHash);
      // Also under `<model>.tar.gz`, the name hand-written requests and the conformance suites use.
      for (const archiveName of [archiveNames[name], modelArchiveName(name)]) {
        copies.push({
          sourceBucket: ASSET_BUCKET,
          sourceKey,
          targetBucket: MODEL_STORE_BUCKET,
          targetKey: `${MODEL_STORE_PREFIX}${archiveName}`,
        });
      }
    }
    await deployment(customResourceCreate('Custom::ModelArchives', { Archives: JSON.stringify(copies) }));
    return archiveNames;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** The archives publishModelArchives puts in the store, which the deployment keeps there. */
function shippedArchiveNames(models: readonly ModelDefinition[]): string[] {
  const staging = mkdtempSync(path.join(tmpdir(), 'local-model-names-'));
  try {
    return models.flatMap(({ name }) => [
      modelArchiveName(
        name,
        stageModelArchive(MODEL_REPOSITORY, path.join(staging, name), [name]).contentHash,
      ),
      modelArchiveName(name),
    ]);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** A CloudFormation `Create` of a custom resource, as the provider framework hands it to its function. */
function customResourceCreate(
  resourceType: string,
  properties: Record<string, string>,
): CloudFormationCustomResourceEvent {
  return {
    RequestType: 'Create',
    ResourceType: resourceType,
    ResourceProperties: { ServiceToken: 'local', ...properties },
    ServiceToken: 'local',
    ResponseURL: 'http://127.0.0.1:9/cloudformation-response',
    StackId: 'arn:aws:cloudformation:us-east-1:000000000000:stack/inference-platform/local',
    RequestId: randomUUID(),
    LogicalResourceId: 'ModelStoreArchives',
  };
}

/**
 * Registers what the local endpoint serves through the deployment function (`Custom::RegistrySeed`),
 * as the stack's deploy-time seeding does in AWS: versions the registry already holds stay as they are.
 */
export async function seedRegistry(
  models: readonly ModelDefinition[],
  archiveNames: Readonly<Record<string, string>>,
  deployment: DeploymentHandler,
): Promise<void> {
  const records = servedModels(models).map((model) => ({
    ...model,
    backends: [tritonBackend(model.name, LOCAL_ENDPOINT, 'multi-model', archiveNames[model.name])],
    status: 'ACTIVE',
    description: `shipped in triton-image/model_repository/${model.name}`,
  }));
  await deployment(customResourceCreate('Custom::RegistrySeed', { Models: JSON.stringify(records) }));
}

/** Resolves when `work` settles or after `ms`, whichever comes first. */
async function within(ms: number, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;
}
