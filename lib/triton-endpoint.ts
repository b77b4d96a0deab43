import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, AssetHashType, Names, Stack, Stage, Token, Validations } from 'aws-cdk-lib';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { Grant, type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { CfnEndpoint, CfnEndpointConfig, CfnModel } from 'aws-cdk-lib/aws-sagemaker';
import { Construct } from 'constructs';
import { stageModelArchive } from './model-archive';
import { tritonBaseImage } from './triton-base-image';

export interface TritonEndpointProps {
  /** Folder holding the serving image's Dockerfile, which builds `FROM ${TRITON_BASE_IMAGE}`. */
  readonly imageDirectory: string;
  /** Triton model repository (`<model>/config.pbtxt`, `<model>/<version>/...`) packed into the model data. */
  readonly modelRepositoryPath: string;
  /** Tag of AWS's `sagemaker-tritonserver` image to build from, e.g. `24.09-py3`. */
  readonly tritonImageVersion: string;
  /** Model folder Triton loads at start (`SAGEMAKER_TRITON_DEFAULT_MODEL_NAME`); it must exist in the repository. */
  readonly defaultModelName: string;
  /** SageMaker instance type, e.g. `ml.g5.xlarge`. */
  readonly instanceType: string;
  /** Instances the `AllTraffic` variant starts with. */
  readonly initialInstanceCount: number;
  /**
   * Endpoint name; fixed at synth so the execution role's log permissions can name its log group.
   * @default - a name derived from the construct path, unique in the account
   */
  readonly endpointName?: string;
  /**
   * KMS key for the instances' ML storage volume.
   * @default - no key: GPU types with local NVMe storage (g4dn, g5, g6, p4d...) reject one, and encrypt
   * that storage in hardware
   */
  readonly volumeEncryptionKey?: IKey;
  /**
   * Folder where `model.tar.gz` is packed before it becomes an asset.
   * @default - `model-data/` in the cloud assembly output directory
   */
  readonly stagingDirectory?: string;
}

/**
 * NVIDIA Triton on a SageMaker real-time endpoint: the serving image built from `imageDirectory`, the
 * model repository packed as the model data, an execution role limited to those two assets and the
 * endpoint's own logs, and one `AllTraffic` variant.
 */
export class TritonEndpoint extends Construct {
  /** Name of the variant every request goes to. */
  public static readonly VARIANT_NAME = 'AllTraffic';

  public readonly endpointName: string;
  public readonly endpointArn: string;
  public readonly executionRole: Role;
  public readonly image: DockerImageAsset;
  public readonly modelData: Asset;

  constructor(scope: Construct, id: string, props: TritonEndpointProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (Token.isUnresolved(stack.region)) {
      throw new Error(
        'triton endpoint needs a stack with a concrete region to pick the triton base image, got an unresolved region',
      );
    }
    // Triton's `serve` exits at start when the default model's folder is missing; fail at synth instead.
    if (!fs.existsSync(path.join(props.modelRepositoryPath, props.defaultModelName, 'config.pbtxt'))) {
      throw new Error(
        `defaultModelName must name a model folder with a config.pbtxt in ${props.modelRepositoryPath}, got ${JSON.stringify(props.defaultModelName)}`,
      );
    }

    this.image = new DockerImageAsset(this, 'Image', {
      directory: props.imageDirectory,
      buildArgs: { TRITON_BASE_IMAGE: tritonBaseImage(stack.region, props.tritonImageVersion) },
      // The weights travel as model data, not as image layers.
      exclude: ['model_repository'],
      platform: Platform.LINUX_AMD64,
    });

    const stagingDirectory = props.stagingDirectory ?? path.join(Stage.of(this)?.outdir ?? '.', 'model-data');
    const archive = stageModelArchive(props.modelRepositoryPath, stagingDirectory);
    this.modelData = new Asset(this, 'ModelData', {
      path: archive.path,
      assetHash: archive.contentHash,
      assetHashType: AssetHashType.CUSTOM,
    });

    this.endpointName =
      props.endpointName ?? Names.uniqueResourceName(this, { maxLength: 63, separator: '-' });

    this.executionRole = new Role(this, 'ExecutionRole', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: 'Runs the Triton inference endpoint',
    });
    this.image.repository.grantPull(this.executionRole);
    // The model archive only, not the whole asset bucket (Asset.grantRead would grant the bucket).
    this.modelData.bucket.grantRead(this.executionRole, this.modelData.s3ObjectKey);
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

    const model = new CfnModel(this, 'Model', {
      executionRoleArn: this.executionRole.roleArn,
      enableNetworkIsolation: true,
      primaryContainer: {
        image: this.image.imageUri,
        modelDataUrl: this.modelData.s3ObjectUrl,
        environment: {
          SAGEMAKER_TRITON_DEFAULT_MODEL_NAME: props.defaultModelName,
          SAGEMAKER_TRITON_LOG_VERBOSE: 'false',
        },
      },
    });
    // CreateModel checks access to the image and model data, so the role's policy must exist first.
    model.node.addDependency(this.executionRole);

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
    const endpoint = new CfnEndpoint(this, 'Endpoint', {
      endpointName: this.endpointName,
      endpointConfigName: config.attrEndpointConfigName,
    });
    this.endpointArn = endpoint.attrEndpointArn;

    this.acknowledgeRoleFindings(logGroupArn);
  }

  private acknowledgeRoleFindings(logGroupArn: string): void {
    const acknowledge = (finding: string, reason: string) =>
      Validations.of(this.executionRole).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
    acknowledge(
      'Resource::*',
      'ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level permissions; PutMetricData is limited to the SageMaker namespaces.',
    );
    for (const action of ['s3:GetBucket*', 's3:GetObject*', 's3:List*']) {
      acknowledge(`Action::${action}`, 'Read actions of grantRead, limited to the one model archive object.');
    }
    acknowledge(
      `Resource::${nagArn(Stack.of(this), logGroupArn)}:*`,
      "SageMaker names a log stream per instance inside this endpoint's own log group.",
    );
  }

  /** Lets `grantee` call InvokeEndpoint on this endpoint and nothing else. */
  public grantInvoke(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['sagemaker:InvokeEndpoint'],
      resourceArns: [this.endpointArn],
    });
  }
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
