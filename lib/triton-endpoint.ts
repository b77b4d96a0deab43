import { ArnFormat, Duration, Names, Stack, Token, Validations } from 'aws-cdk-lib';
import { PredefinedMetric, ScalableTarget, ServiceNamespace } from 'aws-cdk-lib/aws-applicationautoscaling';
import type { IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { Grant, type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { CfnEndpoint, CfnEndpointConfig, CfnModel } from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { ENDPOINT_NAME } from '../contracts/environment-variables';
import { ModelInstanceGroup_Kind } from '../contracts/triton/gen/model_config_pb';
import type { ModelDefinition } from '../triton-image/model-repository';
import { invokableEndpointNames, PlatformConfigError } from './config';
import { MODEL_STORE_BUCKET_ID, type ModelStore } from './model-store';
import type { ServingMode } from './served-models';
import { instanceKind, MULTI_MODEL_GPU_INSTANCE_TYPES, tritonBaseImage } from './triton-base-image';

export interface TritonEndpointProps {
  /**
   * Folder holding a custom serving image's Dockerfile, which builds `FROM ${TRITON_BASE_IMAGE}`
   * (for backends the published image lacks). Needs Docker at deploy and pushes the image to the
   * CDK asset repository.
   * @default - AWS's published `sagemaker-tritonserver` image, used as it is: no Docker, no push
   */
  readonly customImageDirectory?: string;
  /** Where the model archives are; the endpoint is created only once they are in place. */
  readonly modelStore: ModelStore;
  /** Serve every archive in the store (`multi-model`) or only `defaultModelName` (`single-model`). */
  readonly servingMode: ServingMode;
  /** Tag of AWS's `sagemaker-tritonserver` image to serve (or build from), e.g. `24.09-py3`. */
  readonly tritonImageVersion: string;
  /** In single-model mode, the model Triton loads (`SAGEMAKER_TRITON_DEFAULT_MODEL_NAME`). */
  readonly defaultModelName: string;
  /** SageMaker instance type, e.g. `ml.g5.xlarge`. */
  readonly instanceType: string;
  /**
   * Served models whose config.pbtxt pins an instance group to `KIND_GPU`, which Triton cannot load
   * without a GPU (`modelsPinnedToGpu`).
   * @default - none
   */
  readonly gpuPinnedModels?: readonly string[];
  /** Instances the `AllTraffic` variant starts with. */
  readonly initialInstanceCount: number;
  /** Fewest instances target tracking scales in to. */
  readonly minInstanceCount: number;
  /** Most instances target tracking scales out to. */
  readonly maxInstanceCount: number;
  /** Invocations per instance per minute that target tracking aims for. */
  readonly targetInvocationsPerInstance: number;
  /**
   * Endpoint name; fixed at synth so the execution role's log permissions can name its log group.
   * @default - a name derived from the construct path, unique in the account
   */
  readonly endpointName?: string;
  /**
   * Other endpoints the platform's functions may invoke (standby or canary backends), besides this one.
   * @default - none
   */
  readonly additionalInvokableEndpointNames?: readonly string[];
  /**
   * KMS key for the instances' ML storage volume.
   * @default - no key: GPU types with local NVMe storage (g4dn, g5, g6, p4d...) reject one, and encrypt
   * that storage in hardware
   */
  readonly volumeEncryptionKey?: IKey;
}

/**
 * NVIDIA Triton on a SageMaker real-time endpoint: AWS's published Triton image (or one built from
 * `customImageDirectory`), the model archives of a `ModelStore` as model data (all of them on a
 * multi-model endpoint), an execution role limited to the archives, the endpoint's own logs and a
 * custom image if any, one `AllTraffic` variant updated by rolling deployment, and target-tracking
 * autoscaling on invocations per instance.
 */
export class TritonEndpoint extends Construct {
  /** Name of the variant every request goes to. */
  public static readonly VARIANT_NAME = 'AllTraffic';
  /**
   * Half the fleet per batch (50% is the most SageMaker allows), each batch watched for 10 minutes
   * (two 5-minute alarm windows) before the next, all of it within two hours. A rollback brings the
   * old fleet back at once (RollbackMaximumBatchSize unset is 100%).
   */
  public static readonly ROLLING_UPDATE: CfnEndpoint.RollingUpdatePolicyProperty = {
    maximumBatchSize: { type: 'CAPACITY_PERCENT', value: 50 },
    waitIntervalInSeconds: 600,
    maximumExecutionTimeoutInSeconds: 7200,
  };

  public readonly endpointName: string;
  public readonly endpointArn: string;
  /** This endpoint and the additional ones: what `bindInvoker` grants, and all a backend may name. */
  public readonly invokableEndpointNames: readonly string[];
  /** Complete once the endpoint is in service. */
  public readonly endpoint: CfnEndpoint;
  public readonly executionRole: Role;
  /** The image the model runs: AWS's published one, or the custom image's asset URI. */
  public readonly imageUri: string;
  /** Present only with `customImageDirectory`. */
  public readonly customImage?: DockerImageAsset;
  /** Absent for a fixed fleet (`minInstanceCount` = `maxInstanceCount`). */
  public readonly scalableTarget?: ScalableTarget;

  constructor(scope: Construct, id: string, props: TritonEndpointProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (Token.isUnresolved(stack.region)) {
      throw new Error(
        'triton endpoint needs a stack with a concrete region to pick the triton base image, got an unresolved region',
      );
    }
    if (
      !(
        props.minInstanceCount <= props.initialInstanceCount &&
        props.initialInstanceCount <= props.maxInstanceCount
      )
    ) {
      throw new Error(
        `instance counts must satisfy min <= initial <= max, got ${props.minInstanceCount}, ${props.initialInstanceCount}, ${props.maxInstanceCount}`,
      );
    }

    const pinned = props.gpuPinnedModels ?? [];
    if (pinned.length > 0 && instanceKind(props.instanceType) !== 'gpu') {
      throw new PlatformConfigError(
        `instanceType ${props.instanceType} has no GPU, but config.pbtxt of ${pinned.join(', ')} pins instances to KIND_GPU, which Triton cannot load without one; use a GPU type such as ${MULTI_MODEL_GPU_INSTANCE_TYPES.join(', ')} or KIND_AUTO/KIND_CPU`,
      );
    }
    const publishedImage = tritonBaseImage(stack.region, props.tritonImageVersion);
    if (props.customImageDirectory !== undefined) {
      this.customImage = new DockerImageAsset(this, 'Image', {
        directory: props.customImageDirectory,
        buildArgs: { TRITON_BASE_IMAGE: publishedImage },
        // The weights travel as model data, not as image layers.
        exclude: ['model_repository'],
        platform: Platform.LINUX_AMD64,
      });
    }
    this.imageUri = this.customImage?.imageUri ?? publishedImage;

    this.endpointName =
      props.endpointName ?? Names.uniqueResourceName(this, { maxLength: 63, separator: '-' });

    this.invokableEndpointNames = invokableEndpointNames(
      this.endpointName,
      props.additionalInvokableEndpointNames ?? [],
    );

    this.executionRole = new Role(this, 'ExecutionRole', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'Runs the Triton inference endpoint',
    });
    // A custom image is in the account's asset repository, which the role must be allowed to pull
    // from; SageMaker pulls its own published images without any grant on the role.
    this.customImage?.repository.grantPull(this.executionRole);
    const multiModel = props.servingMode === 'multi-model';
    // The model data the endpoint loads: every archive under the prefix, or the one archive.
    props.modelStore.grantArchiveReads(this.executionRole, multiModel ? undefined : props.defaultModelName);
    const logGroupArn = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: `/aws/sagemaker/Endpoints/${this.endpointName}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    // SageMaker writes container logs to /aws/sagemaker/Endpoints/<endpoint name>, and only there.
    this.executionRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'logs:DescribeLogStreams',
        ],
        resources: [logGroupArn, `${logGroupArn}:*`],
      }),
    );
    // PutMetricData has no resources; the namespace condition is the only scope AWS offers.
    this.executionRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringLike: { 'cloudwatch:namespace': '/aws/sagemaker/*' } },
      }),
    );

    // The published image's `serve` reads these; without them it starts Triton with verbose logging,
    // which is costly in CloudWatch Logs (triton-inference-server/server docker/sagemaker/serve).
    const logging = {
      SAGEMAKER_TRITON_LOG_VERBOSE: 'false',
      SAGEMAKER_TRITON_LOG_INFO: 'true',
      SAGEMAKER_TRITON_LOG_WARNING: 'true',
      SAGEMAKER_TRITON_LOG_ERROR: 'true',
    };
    const model = new CfnModel(this, 'Model', {
      executionRoleArn: this.executionRole.roleArn,
      enableNetworkIsolation: true,
      primaryContainer: multiModel
        ? {
            image: this.imageUri,
            mode: 'MultiModel',
            modelDataUrl: props.modelStore.prefixUrl,
            environment: logging,
          }
        : {
            image: this.imageUri,
            modelDataUrl: props.modelStore.archiveUrl(props.defaultModelName),
            environment: { SAGEMAKER_TRITON_DEFAULT_MODEL_NAME: props.defaultModelName, ...logging },
          },
    });
    // CreateModel checks access to the image and model data: the role's policy and the archives
    // must exist first.
    model.node.addDependency(this.executionRole, props.modelStore.ready);

    const config = new CfnEndpointConfig(this, 'Config', {
      kmsKeyId: props.volumeEncryptionKey?.keyArn,
      productionVariants: [
        {
          variantName: TritonEndpoint.VARIANT_NAME,
          modelName: model.attrModelName,
          instanceType: props.instanceType,
          initialInstanceCount: props.initialInstanceCount,
          initialVariantWeight: 1,
        },
      ],
    });
    // A fixed fleet (min = max) has no autoscaling: nothing registered, its count set by each deploy.
    const autoscaled = props.maxInstanceCount > props.minInstanceCount;
    const endpoint = new CfnEndpoint(this, 'Endpoint', {
      endpointName: this.endpointName,
      endpointConfigName: config.attrEndpointConfigName,
      // An update keeps the variant's current instance count and weight: without this, every deploy
      // would reset an autoscaled variant to initialInstanceCount, under load, so autoscaling alone
      // sets the count once deployed. A fixed fleet has no autoscaling: its count comes from the
      // config (ExcludeRetainedVariantProperties, UpdateEndpoint in the SageMaker API reference), so a
      // deploy with another count resizes it.
      retainAllVariantProperties: true,
      ...(autoscaled
        ? {}
        : { excludeRetainedVariantProperties: [{ variantPropertyType: 'DesiredInstanceCount' }] }),
      // Replace instances half the fleet at a time rather than blue/green, which needs the whole
      // fleet twice over in quota; see rollBackOn for the alarms that stop a bad batch.
      deploymentConfig: { rollingUpdatePolicy: TritonEndpoint.ROLLING_UPDATE },
    });
    this.endpointArn = endpoint.attrEndpointArn;
    this.endpoint = endpoint;

    // A fixed fleet (min = max) registers nothing for autoscaling: SageMaker refuses to change the
    // instance type of a variant that is registered ("Update an endpoint that uses autoscaling",
    // SageMaker developer guide), so a fixed fleet is also the way to change it (docs/deploying.md).
    if (autoscaled) {
      this.scalableTarget = new ScalableTarget(this, 'Scaling', {
        serviceNamespace: ServiceNamespace.SAGEMAKER,
        resourceId: `endpoint/${this.endpointName}/variant/${TritonEndpoint.VARIANT_NAME}`,
        scalableDimension: 'sagemaker:variant:DesiredInstanceCount',
        minCapacity: props.minInstanceCount,
        maxCapacity: props.maxInstanceCount,
      });
      this.scalableTarget.node.addDependency(endpoint);
      this.scalableTarget.scaleToTrackMetric('InvocationsPerInstance', {
        predefinedMetric: PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
        targetValue: props.targetInvocationsPerInstance,
        // Scale out fast on a burst; scale in slowly, as a new GPU instance takes minutes to serve.
        scaleOutCooldown: Duration.minutes(1),
        scaleInCooldown: Duration.minutes(10),
      });
    }

    this.acknowledgeRoleFindings(logGroupArn, multiModel);
  }

  private acknowledgeRoleFindings(logGroupArn: string, multiModel: boolean): void {
    const acknowledge = (finding: string, reason: string) =>
      Validations.of(this.executionRole).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
    acknowledge(
      'Resource::*',
      this.customImage
        ? 'ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level permissions; PutMetricData is limited to the SageMaker namespaces.'
        : 'cloudwatch:PutMetricData supports no resource-level permissions; it is limited to the SageMaker namespaces.',
    );
    if (multiModel) {
      acknowledge(
        `Resource::<${MODEL_STORE_BUCKET_ID}.Arn>/models/*`,
        'A multi-model endpoint gets each archive under the store prefix (s3:GetObject only) when a request first names it.',
      );
    }
    acknowledge(
      `Resource::${nagArn(Stack.of(this), logGroupArn)}:*`,
      "SageMaker names a log stream per instance inside this endpoint's own log group.",
    );
  }

  /** Lets `fn` read this endpoint's status (DescribeEndpoint) and tells it the endpoint's name. */
  public bindStatusReader(fn: IGrantable & { addEnvironment(key: string, value: string): unknown }): Grant {
    fn.addEnvironment(ENDPOINT_NAME, this.endpointName);
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['sagemaker:DescribeEndpoint'],
      resourceArns: [endpointArn(Stack.of(this), this.endpointName)],
    });
  }

  /**
   * Rolls an endpoint update back when any of `alarms` fires during a batch's baking period.
   * SageMaker watches them by name, with the execution role, which must be allowed
   * `cloudwatch:DescribeAlarms` on them ("Auto-Rollback Configuration and Monitoring", SageMaker
   * developer guide); they must exist before the update starts.
   */
  public rollBackOn(alarms: readonly IAlarm[]): void {
    this.executionRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['cloudwatch:DescribeAlarms'],
        resources: alarms.map((a) => a.alarmArn),
      }),
    );
    this.endpoint.deploymentConfig = {
      rollingUpdatePolicy: TritonEndpoint.ROLLING_UPDATE,
      autoRollbackConfiguration: { alarms: alarms.map((a) => ({ alarmName: a.alarmName })) },
    };
  }

  /**
   * Lets `fn` call InvokeEndpoint on the invokable endpoints and nothing else. Nothing to tell it:
   * the registry names the endpoint of each model version.
   */
  public bindInvoker(fn: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['sagemaker:InvokeEndpoint'],
      resourceArns: this.invokableEndpointNames.map((name) => endpointArn(Stack.of(this), name)),
    });
  }
}

/**
 * The ARN IAM matches for an endpoint: SageMaker puts the name in it in lower case, so a policy
 * naming `MyEndpoint` must say `endpoint/myendpoint`.
 */
export function endpointArn(stack: Stack, endpointName: string): string {
  return stack.formatArn({
    service: 'sagemaker',
    resource: 'endpoint',
    resourceName: endpointName.toLowerCase(),
  });
}

/** The models of a repository with an instance group of `kind: KIND_GPU`. */
export function modelsPinnedToGpu(definitions: readonly ModelDefinition[]): string[] {
  return definitions
    .filter((d) => d.config.instanceGroup.some((g) => g.kind === ModelInstanceGroup_Kind.GPU))
    .map((d) => d.name);
}

/** An ARN as cdk-nag prints it in finding ids: pseudo parameters become `<AWS::Name>`. */
function nagArn(stack: Stack, arn: string): string {
  const resolved: unknown = stack.resolve(arn);
  if (typeof resolved === 'string') return resolved;
  const parts = (resolved as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  return parts
    .map((part) => (typeof part === 'string' ? part : `<${(part as { Ref: string }).Ref}>`))
    .join('');
}
