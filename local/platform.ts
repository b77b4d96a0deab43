import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { ModelRegistry, type ModelVersion } from '../functions/shared/registry';
import { circuitSettingsOf, type PlatformConfig, readPlatformConfig } from '../lib/config';
import { API_FUNCTIONS, AUTHORIZER_FUNCTION } from '../lib/routes';
import { servedModels, tritonBackend } from '../lib/served-models';
import { loadModelRepository, type ModelDefinition } from '../triton-image/model-repository';
import { type ApiGatewayEmulatorOptions, type LambdaHandler, startApiGateway } from './api-gateway';
import { devSigningSecret } from './dev-credentials';
import { createBatchTable, createCounterTable, createRegistryTable, startDynamoDb } from './dynamodb';
import { startModelServer } from './model-server';
import { startSecretsManager } from './secrets-manager';
import { startSqsEventSource } from './sqs-event-source';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const MODEL_REPOSITORY = `${ROOT}triton-image/model_repository`;
const REGION = 'us-east-1';
const REGISTRY_TABLE = 'inference-platform-registry';
const RATE_LIMIT_TABLE = 'inference-platform-rate-limits';
const CIRCUIT_TABLE = 'inference-platform-circuits';
const BATCH_TABLE = 'inference-platform-batch';
const SUBMISSIONS_QUEUE = 'inference-platform-batch-submissions';
const WORK_QUEUE = 'inference-platform-batch-work';
/** Deliveries before a message goes to its dead-letter queue; low locally so poison shows quickly. */
const MAX_RECEIVE_COUNT = 3;
/**
 * Seconds a received message stays hidden: a failed record reappears after this. Short, so local
 * retries are quick; a duplicate from a slow invocation is harmless (accounting is exactly-once).
 */
const VISIBILITY_TIMEOUT_SECONDS = 5;
/** Worker invocations in flight at once, as the work queue's event source maximum concurrency. */
const WORKER_CONCURRENCY = 4;
const SECRET_ARN = `arn:aws:secretsmanager:${REGION}:000000000000:secret:inference-platform/jwt-signing-key`;
/** One local endpoint serves every model, as a multi-model SageMaker endpoint does (TargetModel). */
export const LOCAL_ENDPOINT = 'local-triton';
/** A second endpoint with the same models, to register as another backend and try failover locally. */
export const LOCAL_STANDBY_ENDPOINT = 'local-triton-standby';

export interface LocalPlatformOptions {
  /** Port of the API; 0 picks a free one. @default 3000 */
  readonly apiPort?: number;
  /** Port of the model server's Triton HTTP and SageMaker Runtime APIs; 0 picks a free one. @default 8000 */
  readonly tritonPort?: number;
}

export interface LocalPlatform {
  readonly apiUrl: string;
  readonly modelServerUrl: string;
  readonly dynamodbUrl: string;
  readonly sqsUrl: string;
  /** Where SQS clients send batch submissions (with `endpoint` set to `sqsUrl`). */
  readonly submissionsQueueUrl: string;
  readonly config: PlatformConfig;
  readonly models: readonly ModelDefinition[];
  close(): Promise<void>;
}

/** The deployment configuration from cdk.json, so local and deployed behaviour agree. */
export function readLocalConfig(): PlatformConfig {
  const { context = {} } = JSON.parse(readFileSync(`${ROOT}cdk.json`, 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return readPlatformConfig((key) => context[key]);
}

/**
 * Starts the whole platform on 127.0.0.1: DynamoDB (dynalite), SQS (fauxqs), Secrets Manager, the
 * model server, and the API Gateway emulator running the real handlers, which find the emulators
 * only through the same environment variables they read in AWS.
 */
export async function startLocalPlatform(options: LocalPlatformOptions = {}): Promise<LocalPlatform> {
  const config = readLocalConfig();
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };
  try {
    const dynamo = await startDynamoDb();
    closers.push(() => dynamo.close());
    const dynamodbUrl = dynamo.url;

    const sqs = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    closers.push(() => sqs.stop());
    const submissions = createQueueWithDeadLetters(sqs, SUBMISSIONS_QUEUE);
    const work = createQueueWithDeadLetters(sqs, WORK_QUEUE);

    const secrets = await startSecretsManager({ [SECRET_ARN]: devSigningSecret() });
    closers.push(() => secrets.close());

    const models = await loadModelRepository(MODEL_REPOSITORY);
    const modelServer = await startModelServer({
      models,
      port: options.tritonPort ?? 8000,
      endpoints: { [LOCAL_ENDPOINT]: {}, [LOCAL_STANDBY_ENDPOINT]: {} },
      // `/local/faults` on the model server: tests and manual runs make the endpoint misbehave.
      faultInjection: true,
    });
    closers.push(() => modelServer.close());

    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_EC2_METADATA_DISABLED: 'true',
      // Any service without an emulator fails fast on this closed port instead of reaching AWS.
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_DYNAMODB: dynamodbUrl,
      AWS_ENDPOINT_URL_SQS: sqs.address,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: modelServer.url,
      REGISTRY_TABLE_NAME: REGISTRY_TABLE,
      RATE_LIMIT_TABLE_NAME: RATE_LIMIT_TABLE,
      // A load test or benchmark can raise the limits without editing cdk.json.
      RATE_LIMIT_TIERS: process.env.RATE_LIMIT_TIERS ?? JSON.stringify(config.rateLimitTiers),
      ALLOWED_ORIGINS: config.allowedOrigins.join(','),
      CIRCUIT_TABLE_NAME: CIRCUIT_TABLE,
      CIRCUIT_SETTINGS: JSON.stringify(circuitSettingsOf(config)),
      BATCH_TABLE_NAME: BATCH_TABLE,
      SUBMISSIONS_QUEUE_URL: submissions.queueUrl,
      WORK_QUEUE_URL: work.queueUrl,
      WORK_MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
      JWT_SECRET_ARN: SECRET_ARN,
      ...(config.jwtIssuer ? { JWT_ISSUER: config.jwtIssuer } : {}),
      ...(config.jwtAudience ? { JWT_AUDIENCE: config.jwtAudience } : {}),
      PLATFORM_VERSION: packageVersion(),
      POWERTOOLS_SERVICE_NAME: 'inference-platform',
      POWERTOOLS_METRICS_NAMESPACE: 'InferencePlatform',
      POWERTOOLS_LOG_LEVEL: process.env.LOG_LEVEL ?? 'WARN',
      // No X-Ray daemon or CloudWatch locally.
      POWERTOOLS_TRACE_ENABLED: 'false',
      POWERTOOLS_METRICS_DISABLED: 'true',
      // Lambda runs Node.js 22; the SDK's advice to upgrade a Node.js 20 laptop is noise here.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    });
    delete process.env.AWS_PROFILE;
    delete process.env.AWS_SESSION_TOKEN;

    const dynamodb = new DynamoDBClient({});
    await createRegistryTable(dynamodb, REGISTRY_TABLE);
    await createCounterTable(dynamodb, RATE_LIMIT_TABLE);
    await createCounterTable(dynamodb, CIRCUIT_TABLE);
    await createBatchTable(dynamodb, BATCH_TABLE);
    await seedRegistry(new ModelRegistry(dynamodb, REGISTRY_TABLE), models);
    dynamodb.destroy();

    // Imported only now: handlers read their environment when their module loads, as in Lambda.
    const load = async (entry: string) => ((await import(`../${entry}`)) as { handler: never }).handler;
    const handlers = Object.fromEntries(
      await Promise.all(
        Object.entries(API_FUNCTIONS).map(async ([name, { entry }]) => [name, await load(entry)]),
      ),
    ) as ApiGatewayEmulatorOptions['handlers'];
    const api = await startApiGateway({
      handlers,
      authorizer: await load(AUTHORIZER_FUNCTION.entry),
      authorizerCacheTtlSeconds: config.authorizerCacheTtlSeconds,
      allowedOrigins: config.allowedOrigins,
      port: options.apiPort ?? 3000,
    });
    closers.push(() => api.close());

    // fauxqs queue URLs name no reachable host: the pollers reach it through its address.
    const sqsClient = new SQSClient({ endpoint: sqs.address });
    closers.push(async () => sqsClient.destroy());
    const sqsHandler = async (entry: string) =>
      (await load(entry)) as LambdaHandler<SQSEvent, SQSBatchResponse | undefined>;
    for (const source of [
      {
        queue: submissions,
        functionName: 'batch-fan-out',
        entry: 'functions/batch/fan-out-handler.ts',
        maxConcurrency: 1,
      },
      {
        queue: work,
        functionName: 'batch-worker',
        entry: 'functions/batch/worker-handler.ts',
        maxConcurrency: WORKER_CONCURRENCY,
      },
    ]) {
      const poller = startSqsEventSource({
        client: sqsClient,
        queueUrl: source.queue.queueUrl,
        queueArn: source.queue.queueArn,
        functionName: source.functionName,
        handler: await sqsHandler(source.entry),
        maxConcurrency: source.maxConcurrency,
      });
      closers.push(() => poller.close());
    }

    return {
      apiUrl: api.url,
      modelServerUrl: modelServer.url,
      dynamodbUrl,
      sqsUrl: sqs.address,
      submissionsQueueUrl: submissions.queueUrl,
      config,
      models,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** A queue whose messages move to `<name>-dlq` after MAX_RECEIVE_COUNT deliveries, as the stack's do. */
function createQueueWithDeadLetters(sqs: FauxqsServer, name: string) {
  const deadLetters = sqs.createQueue(`${name}-dlq`);
  return sqs.createQueue(name, {
    attributes: {
      VisibilityTimeout: String(VISIBILITY_TIMEOUT_SECONDS),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: deadLetters.queueArn,
        maxReceiveCount: MAX_RECEIVE_COUNT,
      }),
    },
  });
}

/** Registers what the local endpoint serves, as the stack's deploy-time seeding does in AWS. */
export async function seedRegistry(
  registry: ModelRegistry,
  models: readonly ModelDefinition[],
): Promise<void> {
  const now = new Date().toISOString();
  for (const model of servedModels(models)) {
    const record: ModelVersion = {
      ...model,
      backends: [tritonBackend(model.name, LOCAL_ENDPOINT, 'multi-model')],
      status: 'ACTIVE',
      description: `shipped in triton-image/model_repository/${model.name}`,
      createdAt: now,
      updatedAt: now,
    };
    await registry.putVersion(record, { replace: true });
  }
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;
}
