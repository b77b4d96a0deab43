import * as path from 'node:path';
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import {
  ParamsAndSecretsLayerVersion,
  ParamsAndSecretsLogLevel,
  ParamsAndSecretsVersions,
} from 'aws-cdk-lib/aws-lambda';
import { Fact, FactName } from 'aws-cdk-lib/region-info';
import type { Construct } from 'constructs';
import { gatewayResponseOrigin } from '../contracts/cors';
import * as ENV from '../contracts/environment-variables';
import { ApiFirewall, ipRateLimitFor } from './api-firewall';
import { BatchDataBucket } from './batch-data-bucket';
import { BatchEventBus } from './batch-event-bus';
import { BatchPipeline } from './batch-pipeline';
import { BatchTable } from './batch-table';
import { alarmThresholdsOf, circuitSettingsOf, type PlatformConfig, PlatformConfigError } from './config';
import { CircuitTable, RateLimitTable } from './counter-table';
import { DeploymentProvider } from './deployment-provider';
import { JwtSigningSecret } from './jwt-signing-secret';
import { ModelStore } from './model-store';
import { ModelWarmUp } from './model-warmup';
import { OperationsDashboard } from './operations-dashboard';
import { PlatformAlarms } from './platform-alarms';
import { PlatformApi } from './platform-api';
import { PROJECT_ROOT } from './project-root';
import { RegistrySeed } from './registry-seed';
import { RegistryTable } from './registry-table';
import type { ServedModel } from './served-models';
import { TritonEndpoint } from './triton-endpoint';

export interface InferencePlatformStackProps extends StackProps {
  /** Validated deployment configuration (`parsePlatformConfig`); `config.region` is the stack's region. */
  readonly config: PlatformConfig;
  /** Triton model repository; each served model's folder becomes its model archive. */
  readonly modelRepositoryPath: string;
  /** The models of that repository as Triton serves them (`servedModels(await loadModelRepository(...))`). */
  readonly models: readonly ServedModel[];
  /**
   * Models whose config.pbtxt pins instances to `KIND_GPU` (`modelsPinnedToGpu`); synth refuses a
   * CPU instance type when one of them is served.
   * @default - none
   */
  readonly gpuPinnedModels?: readonly string[];
  /**
   * Version reported by the health endpoint.
   * @default 'unknown'
   */
  readonly platformVersion?: string;
  /**
   * Name of the stack's endpoint.
   * @default - a name derived from the construct path, unique in the account
   */
  readonly endpointName?: string;
  /**
   * Folder with the custom serving image's Dockerfile, built when `config.customImage` is set.
   * @default - `triton-image/` in the repository root
   */
  readonly tritonImageDirectory?: string;
}

/**
 * The whole platform in one stack: API, authorizer, registry, signing key, the Triton endpoint and
 * the batch inference pipeline.
 */
export class InferencePlatformStack extends Stack {
  public readonly api: PlatformApi;
  public readonly registry: RegistryTable;
  public readonly rateLimits: RateLimitTable;
  public readonly circuits: CircuitTable;
  public readonly endpoint: TritonEndpoint;
  public readonly modelStore: ModelStore;
  public readonly batchTable: BatchTable;
  /** Batch input files and results. */
  public readonly batchData: BatchDataBucket;
  public readonly batchEvents: BatchEventBus;
  public readonly batch: BatchPipeline;
  /** Pushed versions' warm-up: LOADING until it answers. */
  public readonly warmUp: ModelWarmUp;
  /** Alarms and the SNS topic they notify. */
  public readonly alarms: PlatformAlarms;
  public readonly dashboard: OperationsDashboard;
  /** Present in HS256 mode only (no `jwksUrl` configured). */
  public readonly signingSecret?: JwtSigningSecret;

  constructor(scope: Construct, id: string, props: InferencePlatformStackProps) {
    const { config } = props;
    if (props.env?.region && props.env.region !== config.region) {
      throw new Error(
        `env.region must match config.region (${config.region}), got ${JSON.stringify(props.env.region)}`,
      );
    }
    // The region is configuration: it picks the Triton base image, so it must be concrete at synth.
    super(scope, id, { ...props, env: { ...props.env, region: config.region } });

    this.registry = new RegistryTable(this, 'Registry');
    this.rateLimits = new RateLimitTable(this, 'RateLimits', { tiers: config.rateLimitTiers });
    this.circuits = new CircuitTable(this, 'Circuits', { settings: circuitSettingsOf(config) });
    this.batchTable = new BatchTable(this, 'BatchJobs', { retentionDays: config.batchRetentionDays });
    this.batchData = new BatchDataBucket(this, 'BatchData', {
      retentionDays: config.batchRetentionDays,
      allowedOrigins: config.allowedOrigins,
    });
    this.batchEvents = new BatchEventBus(this, 'BatchEvents');
    // Single-model mode serves the default model alone; multi-model mode serves them all.
    const served =
      config.servingMode === 'single-model'
        ? props.models.filter((m) => m.name === config.defaultModelName)
        : [...props.models];
    if (served.length === 0) {
      throw new PlatformConfigError(
        `defaultModelName must name a model of the repository (${props.models.map((m) => m.name).join(', ')}), got ${JSON.stringify(config.defaultModelName)}`,
      );
    }
    const deployment = new DeploymentProvider(this, 'Deployment');
    this.modelStore = new ModelStore(this, 'ModelStore', {
      modelRepositoryPath: props.modelRepositoryPath,
      models: served.map((m) => m.name),
      provider: deployment,
      allowedOrigins: config.allowedOrigins,
    });
    this.endpoint = new TritonEndpoint(this, 'Triton', {
      customImageDirectory: config.customImage
        ? (props.tritonImageDirectory ?? path.join(PROJECT_ROOT, 'triton-image'))
        : undefined,
      modelStore: this.modelStore,
      servingMode: config.servingMode,
      tritonImageVersion: config.tritonImageVersion,
      defaultModelName: config.defaultModelName,
      instanceType: config.instanceType,
      gpuPinnedModels: (props.gpuPinnedModels ?? []).filter((name) => served.some((m) => m.name === name)),
      initialInstanceCount: config.initialInstanceCount,
      minInstanceCount: config.minInstanceCount,
      maxInstanceCount: config.maxInstanceCount,
      targetInvocationsPerInstance: config.targetInvocationsPerInstance,
      additionalInvokableEndpointNames: config.additionalEndpointNames,
      endpointName: props.endpointName,
    });
    new RegistrySeed(this, 'RegistrySeed', {
      models: served,
      endpointName: this.endpoint.endpointName,
      servingMode: config.servingMode,
      archiveNames: this.modelStore.archiveNames,
      registry: this.registry,
      provider: deployment,
      after: this.endpoint.endpoint,
    });
    this.api = new PlatformApi(this, 'Api', {
      allowedOrigins: config.allowedOrigins,
      authorizerCacheTtl: Duration.seconds(config.authorizerCacheTtlSeconds),
      throttleRateLimit: config.throttleRateLimit,
      throttleBurstLimit: config.throttleBurstLimit,
      cloudWatchRole: config.apiGatewayCloudWatchRole,
      // HS256 mode reads the signing key through the extension: no SDK in the authorizer's bundle.
      authorizerParamsAndSecrets: config.jwksUrl
        ? undefined
        : ParamsAndSecretsLayerVersion.fromVersion(extensionVersionIn(config.region), {
            cacheEnabled: true,
            secretsManagerTtl: JwtSigningSecret.EXTENSION_CACHE_TTL,
            logLevel: ParamsAndSecretsLogLevel.WARN,
          }),
    });
    new ApiFirewall(this, 'Firewall', {
      restApi: this.api.restApi,
      rateLimitPerFiveMinutes: ipRateLimitFor(config.rateLimitTiers, config.wafRateLimitPerIp),
      corsOrigin: gatewayResponseOrigin(config.allowedOrigins),
    });

    this.batch = new BatchPipeline(this, 'Batch', {
      table: this.batchTable,
      registry: this.registry,
      circuits: this.circuits,
      endpoint: this.endpoint,
      maxReceiveCount: config.batchMaxReceiveCount,
      workerConcurrency: config.batchWorkerConcurrency,
      workerBatchSize: config.batchWorkerBatchSize,
      workerTimeout: Duration.seconds(config.batchWorkerTimeoutSeconds),
      outageBudget: Duration.seconds(config.batchOutageBudgetSeconds),
      stallTimeout: Duration.seconds(config.batchStallTimeoutSeconds),
      oldestMessageAgeThreshold: Duration.seconds(config.batchOldestMessageAgeAlarmSeconds),
    });

    // Each binding sets the variable a handler reads and grants exactly what that handler does with it.
    const { health, inference, models, batch: batchApi } = this.api.functions;
    const authorizer = this.api.authorizerFunction;

    health.addEnvironment(ENV.PLATFORM_VERSION, props.platformVersion ?? 'unknown');
    // Readiness is the endpoint's status.
    this.endpoint.bindStatusReader(health);

    // Functions behind the authorizer apply the per-principal rate limit.
    for (const fn of [inference, models, batchApi]) this.rateLimits.bindLimiter(fn);
    this.registry.bindModelReads(inference);
    this.endpoint.bindInvoker(inference);
    this.circuits.bindCircuits(inference);
    this.registry.bindRegistryWrites(models);
    this.modelStore.bindArchiveRetirement(models, this.endpoint.endpointName, this.registry.table);
    // Registration refuses backends the invokers' roles could not call.
    models.addEnvironment(ENV.INVOKABLE_ENDPOINT_NAMES, this.endpoint.invokableEndpointNames.join(','));
    // Pushed versions go into the model store and are served by the multi-model endpoint.
    this.modelStore.bindUploads(
      models,
      config.servingMode === 'multi-model' ? this.endpoint.endpointName : undefined,
    );
    this.warmUp = new ModelWarmUp(this, 'WarmUp', {
      registry: this.registry,
      circuits: this.circuits,
      endpoint: this.endpoint,
    });
    this.warmUp.queue.bindSender(models);
    // Submitting checks the model and queues the job; reading lists a principal's jobs by owner.
    this.registry.bindModelReads(batchApi);
    this.batchTable.bindJobReadWrites(batchApi);
    this.batch.submissions.bindSender(batchApi);
    for (const fn of [
      batchApi,
      this.batch.fanOutFunction,
      this.batch.workerFunction,
      this.batch.deadLettersFunction,
    ]) {
      fn.addEnvironment(ENV.BATCH_DATA_BUCKET, this.batchData.bucket.bucketName);
    }
    this.batchData.grantResultsDeletion(batchApi);
    // The functions that can end a job publish that it ended.
    for (const fn of [this.batch.fanOutFunction, this.batch.workerFunction, this.batch.deadLettersFunction]) {
      this.batchEvents.bindPublisher(fn);
    }
    this.batchData.bindInputUploads(batchApi);
    this.batchData.bindInputReads(this.batch.fanOutFunction);
    this.batchData.bindInputReads(this.batch.workerFunction);
    // Whoever records a chunk's outcome writes an S3 job's part, and the manifest when the job ends.
    for (const fn of [this.batch.workerFunction, this.batch.fanOutFunction, this.batch.deadLettersFunction]) {
      this.batchData.bindResultWrites(fn);
    }
    this.batchData.bindResultLinks(batchApi);

    if (config.jwksUrl) {
      authorizer.addEnvironment(ENV.JWKS_URL, config.jwksUrl);
    } else {
      this.signingSecret = new JwtSigningSecret(this, 'JwtSigningKey', {
        rotationInterval: Duration.days(config.jwtKeyRotationDays),
      });
      this.signingSecret.bindReader(authorizer);
    }
    // Config parsing requires issuer and audience with a JWKS URL; each check is on when set.
    if (config.jwtIssuer) authorizer.addEnvironment(ENV.JWT_ISSUER, config.jwtIssuer);
    if (config.jwtAudience) authorizer.addEnvironment(ENV.JWT_AUDIENCE, config.jwtAudience);
    if (config.jwtTokenType) authorizer.addEnvironment(ENV.JWT_TOKEN_TYPE, config.jwtTokenType);
    if (config.jwtTokenUse) authorizer.addEnvironment(ENV.JWT_TOKEN_USE, config.jwtTokenUse);

    // Operations: every platform function, the API stage, the endpoint and the batch queues.
    const functions = [
      ...Object.values(this.api.functions),
      authorizer,
      this.batch.fanOutFunction,
      this.batch.workerFunction,
      this.batch.deadLettersFunction,
      this.warmUp.function,
    ];
    const endpoint = { endpointName: this.endpoint.endpointName, variantName: TritonEndpoint.VARIANT_NAME };
    const stage = this.api.restApi.deploymentStage;
    this.alarms = new PlatformAlarms(this, 'Alarms', {
      thresholds: alarmThresholdsOf(config),
      alarmEmail: config.alarmEmail,
      stage,
      functions,
      endpoint,
      existingAlarms: [
        ...this.batch.alarms,
        ...this.warmUp.alarms,
        ...(this.signingSecret ? [this.signingSecret.rotationFailedAlarm] : []),
      ],
    });
    // An endpoint update whose new instances fail or slow down rolls back.
    this.endpoint.rollBackOn([this.alarms.endpointServerErrors, this.alarms.modelLatencyP99]);
    this.dashboard = new OperationsDashboard(this, 'Operations', {
      stage,
      functions,
      endpoint,
      // Every queue with alarms: the batch queues and the warm-up queue.
      queues: { submissions: this.batch.submissions, work: this.batch.work, 'warm-ups': this.warmUp.queue },
      multiModel: config.servingMode === 'multi-model',
      instanceCount: { min: config.minInstanceCount, max: config.maxInstanceCount },
      alarms: this.alarms.alarms,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the platform API' });
    new CfnOutput(this, 'RegistryTableName', { value: this.registry.table.tableName });
    new CfnOutput(this, 'BatchEventBusName', {
      value: this.batchEvents.bus.eventBusName,
      description: 'Where each batch job that ends publishes a "Batch Job Ended" event',
    });
    new CfnOutput(this, 'EndpointName', { value: this.endpoint.endpointName });
    new CfnOutput(this, 'BatchTableName', { value: this.batchTable.table.tableName });
    new CfnOutput(this, 'BatchSubmissionsQueueUrl', {
      value: this.batch.submissions.queue.queueUrl,
      description: 'Queue of submitted batch jobs, drained by the fan-out function',
    });
    new CfnOutput(this, 'BatchSubmissionsDeadLetterQueueUrl', {
      value: this.batch.submissions.deadLetterQueue.queueUrl,
      description: 'Batch submissions that failed every receive',
    });
    new CfnOutput(this, 'BatchWorkQueueUrl', {
      value: this.batch.work.queue.queueUrl,
      description: 'Queue of batch chunks, drained by the worker',
    });
    new CfnOutput(this, 'BatchWorkDeadLetterQueueUrl', {
      value: this.batch.work.deadLetterQueue.queueUrl,
      description: 'Batch chunks that failed every receive',
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarms.topic.topicArn });
    if (this.signingSecret) {
      new CfnOutput(this, 'JwtSecretArn', {
        value: this.signingSecret.secret.secretArn,
        description: 'Secrets Manager secret holding the HS256 token signing key',
      });
    }
  }
}

/**
 * The Parameters and Secrets extension's version, where AWS publishes its arm64 layer (every function
 * is arm64): CDK's region facts list the layers, and a region without one fails here, naming the way
 * out, rather than deep in synthesis.
 */
function extensionVersionIn(region: string): ParamsAndSecretsVersions {
  const version = ParamsAndSecretsVersions.V1_0_103;
  if (!Fact.find(region, FactName.paramsAndSecretsLambdaLayer(version, 'arm64'))) {
    throw new PlatformConfigError(
      `region ${region} has no arm64 layer of the Parameters and Secrets extension, through which the authorizer reads its HS256 signing key: set jwksUrl (with jwtIssuer and jwtAudience) to verify an identity provider's tokens instead, or deploy to another region`,
    );
  }
  return version;
}
