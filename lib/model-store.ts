import * as path from 'node:path';
import { AssetHashType, CustomResource, Duration, RemovalPolicy, Stage, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable, type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { modelStoreCors } from '../contracts/cors';
import {
  ENDPOINT_NAME,
  MODEL_STORE_URL,
  MODEL_UPLOAD_ENDPOINT_NAME,
  SHIPPED_ARCHIVES,
} from '../contracts/environment-variables';
import { bucketCors } from './bucket-cors';
import type { DeploymentProvider } from './deployment-provider';
import { stageModelArchive } from './model-archive';
import { MODEL_STORE_PREFIX, modelArchiveName } from './served-models';

export interface ModelStoreProps {
  /** Triton model repository: each model folder becomes `models/<model>.tar.gz`. */
  readonly modelRepositoryPath: string;
  /** Models to store; each must be a folder of the repository. */
  readonly models: readonly string[];
  /** Runs the copy from the CDK asset bucket into the store at deploy time. */
  readonly provider: DeploymentProvider;
  /**
   * Folder where archives are packed before they become assets.
   * @default - `model-data/` in the cloud assembly output directory
   */
  readonly stagingDirectory?: string;
  /** Origins allowed by CORS (`allowedOrigins`): a browser on one of them can upload through the presigned URLs. */
  readonly allowedOrigins: readonly string[];
}

/** Pinned, so that moving the construct never replaces the bucket. */
export const MODEL_STORE_BUCKET_ID = 'ModelStoreBucket';

/**
 * The SageMaker model data: one deterministic `model.tar.gz` per model (the model folder at its
 * top) in a bucket of its own, under `models/<model>-<content hash>.tar.gz`. That is the layout a multi-model
 * endpoint needs (`ModelDataUrl` is the prefix, `TargetModel` the archive name), and a single-model
 * endpoint points at one archive. CDK's asset bucket names objects by hash, hence the copy.
 */
export class ModelStore extends Construct {
  public readonly bucket: Bucket;
  /** Completes once every archive is in place; the SageMaker model must wait for it. */
  public readonly ready: CustomResource;
  /** Each model's archive name under the prefix: a multi-model endpoint's `TargetModel`. */
  public readonly archiveNames: Record<string, string> = {};

  constructor(scope: Construct, id: string, props: ModelStoreProps) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      removalPolicy: RemovalPolicy.RETAIN,
      // A pushed archive whose parts were never completed holds storage until S3 aborts it.
      lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      cors: bucketCors(modelStoreCors(props.allowedOrigins)),
    });
    (this.bucket.node.defaultChild as CfnBucket).overrideLogicalId(MODEL_STORE_BUCKET_ID);
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Only the deployment and the upload route write here, the endpoint and the upload check read; CloudTrail records each.',
    });

    const stagingDirectory = props.stagingDirectory ?? path.join(Stage.of(this)?.outdir ?? '.', 'model-data');
    const archives = props.models.map((model) => {
      const staged = stageModelArchive(props.modelRepositoryPath, path.join(stagingDirectory, model), [
        model,
      ]);
      const asset = new Asset(this, `Archive-${model}`, {
        path: staged.path,
        assetHash: staged.contentHash,
        assetHashType: AssetHashType.CUSTOM,
      });
      this.archiveNames[model] = modelArchiveName(model, staged.contentHash);
      return {
        asset,
        copy: {
          sourceBucket: asset.s3BucketName,
          sourceKey: asset.s3ObjectKey,
          targetBucket: this.bucket.bucketName,
          targetKey: `${MODEL_STORE_PREFIX}${modelArchiveName(model, staged.contentHash)}`,
        },
      };
    });
    // The copy is one CopyObject per archive: GetObject on its source, PutObject on its target, and
    // no bucket-level or wildcard permission (CDK's grantRead/grantPut would add both).
    props.provider.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: archives.map(({ asset }) => asset.bucket.arnForObjects(asset.s3ObjectKey)),
      }),
    );
    props.provider.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: archives.map(({ copy }) => this.bucket.arnForObjects(copy.targetKey)),
      }),
    );

    this.ready = new CustomResource(this, 'Archives', {
      serviceToken: props.provider.serviceToken,
      resourceType: 'Custom::ModelArchives',
      properties: { Archives: JSON.stringify(archives.map(({ copy }) => copy)) },
    });
  }

  /** `s3://<bucket>/models/`: a multi-model endpoint's model data. */
  public get prefixUrl(): string {
    return this.bucket.s3UrlForObject(MODEL_STORE_PREFIX);
  }

  /** `s3://<bucket>/models/<model>-<hash>.tar.gz`: a single-model endpoint's model data. */
  public archiveUrl(model: string): string {
    return this.bucket.s3UrlForObject(`${MODEL_STORE_PREFIX}${this.archiveName(model)}`);
  }

  /**
   * `s3:GetObject` on one model's archive, or on every archive under the prefix, and nothing else:
   * SageMaker needs only GetObject on the objects of `ModelDataUrl`; a multi-model endpoint fetches
   * `<prefix><TargetModel>` when a request names it. No listing, no bucket-level reads, no KMS (the
   * bucket is S3-managed encrypted).
   */
  public grantArchiveReads(grantee: IGrantable, model?: string): Grant {
    const key =
      model === undefined ? `${MODEL_STORE_PREFIX}*` : `${MODEL_STORE_PREFIX}${this.archiveName(model)}`;
    return Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.bucket.arnForObjects(key)],
    });
  }

  /**
   * Lets the models function retire archives (functions/registry/retire.ts): it is told the store,
   * the endpoint whose `TargetModel`s are its archives and the archives this deployment keeps there,
   * may delete and read objects under the prefix and nothing else there, and may Scan the registry
   * for the versions that still name an archive.
   */
  public bindArchiveRetirement(
    fn: IGrantable & { role?: IRole; addEnvironment(key: string, value: string): unknown },
    endpointName: string,
    registryTable: ITable,
  ): Grant {
    fn.addEnvironment(MODEL_STORE_URL, this.prefixUrl);
    fn.addEnvironment(SHIPPED_ARCHIVES, Object.values(this.archiveNames).join(','));
    fn.addEnvironment(ENDPOINT_NAME, endpointName);
    Grant.addToPrincipal({ grantee: fn, actions: ['dynamodb:Scan'], resourceArns: [registryTable.tableArn] });
    if (fn.role) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${MODEL_STORE_BUCKET_ID}.Arn>/${MODEL_STORE_PREFIX}*]`,
        reason:
          'Any archive under the store prefix can be retired: DeleteObject, and HeadObject (s3:GetObject) to see whether one was uploaded again; nothing outside the prefix.',
      });
    }
    // HeadObject is authorized by s3:GetObject.
    this.grantListing(fn);
    return Grant.addToPrincipal({
      grantee: fn,
      actions: ['s3:DeleteObject', 's3:GetObject'],
      resourceArns: [this.bucket.arnForObjects(`${MODEL_STORE_PREFIX}*`)],
    });
  }

  /**
   * The models function's upload routes (the store itself comes with bindArchiveRetirement): `s3:PutObject` and `s3:GetObject` on
   * the archives under the prefix, nothing else. PutObject covers what the function presigns or sends
   * to write an archive (PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload);
   * GetObject covers reading an archive back to check it and HeadObject's "is it stored already".
   * `endpointName` is the multi-model endpoint pushed versions are served by (none in single-model mode).
   */
  public bindUploads(
    fn: IGrantable & { role?: IRole; addEnvironment(key: string, value: string): unknown },
    endpointName?: string,
  ): void {
    if (endpointName !== undefined) fn.addEnvironment(MODEL_UPLOAD_ENDPOINT_NAME, endpointName);
    this.grantListing(fn);
    Grant.addToPrincipal({
      grantee: fn,
      actions: ['s3:GetObject', 's3:PutObject'],
      resourceArns: [this.bucket.arnForObjects(`${MODEL_STORE_PREFIX}*`)],
    });
    if (fn.role) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${MODEL_STORE_BUCKET_ID}.Arn>/${MODEL_STORE_PREFIX}*]`,
        reason:
          'Pushed archives are named by a content hash that is known only when a client starts an upload; writes are limited to the model prefix, and the completion checks each archive before it is registered.',
      });
    }
  }

  /**
   * `s3:ListBucket` on the bucket: S3 answers a read of a missing object 404 only to a caller that
   * has it, and 403 to any other (the permissions of HeadObject and GetObject in the S3 API
   * reference). "Is this archive stored already?" needs the 404. A listing shows keys, never contents.
   */
  private grantListing(grantee: IGrantable): void {
    Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [this.bucket.bucketArn] });
  }

  private archiveName(model: string): string {
    const name = this.archiveNames[model];
    if (!name) throw new Error(`model store holds no model ${JSON.stringify(model)}`);
    return name;
  }
}
