import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Grant, type IGrantable, type IRole } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  type LifecycleRule,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { BATCH_INPUTS_PREFIX, BATCH_RESULTS_PREFIX, batchDataLifecycleRules } from '../contracts/batch-data';
import { batchDataCors } from '../contracts/cors';
import { bucketCors } from './bucket-cors';

export interface BatchDataBucketProps {
  /** Days input files and results are kept (`batchRetentionDays`). */
  readonly retentionDays: number;
  /** Origins allowed by CORS (`allowedOrigins`): a browser on one of them can upload inputs and read results. */
  readonly allowedOrigins: readonly string[];
}

/** Pinned, so that moving the construct never replaces the bucket. */
export const BATCH_DATA_BUCKET_ID = 'BatchDataBucket';

/** The bucket's lifecycle rules (`batchDataLifecycleRules`), as the CDK takes them. */
function lifecycleRules(retentionDays: number): LifecycleRule[] {
  return batchDataLifecycleRules(retentionDays).map((rule) => ({
    id: rule.id,
    ...(rule.prefix ? { prefix: rule.prefix } : {}),
    ...(rule.expirationDays === undefined ? {} : { expiration: Duration.days(rule.expirationDays) }),
    ...(rule.abortIncompleteMultipartUploadDays === undefined
      ? {}
      : { abortIncompleteMultipartUploadAfter: Duration.days(rule.abortIncompleteMultipartUploadDays) }),
  }));
}

/** Batch jobs' input files and results (layout in `contracts/batch-data.ts`), in a bucket of their own. */
export class BatchDataBucket extends Construct {
  public readonly bucket: Bucket;
  private readonly resultObjects: string;

  constructor(scope: Construct, id: string, props: BatchDataBucketProps) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: lifecycleRules(props.retentionDays),
      cors: bucketCors(batchDataCors(props.allowedOrigins)),
    });
    (this.bucket.node.defaultChild as CfnBucket).overrideLogicalId(BATCH_DATA_BUCKET_ID);
    this.resultObjects = this.bucket.arnForObjects(`${BATCH_RESULTS_PREFIX}*`);
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Only the batch functions read and write here, each through its own role; CloudTrail records the API calls.',
    });
  }

  /**
   * Lets the batch API delete a job's results (functions/batch/deletion.ts): ListObjectsV2 under
   * `results/` (s3:ListBucket) and DeleteObjects (s3:DeleteObject) on the objects there.
   */
  public grantResultsDeletion(grantee: IGrantable & { role?: IRole }): Grant {
    this.grantListing(grantee);
    if (grantee.role) {
      Validations.of(grantee.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${BATCH_DATA_BUCKET_ID}.Arn>/${BATCH_RESULTS_PREFIX}*]`,
        reason:
          'A deleted job may own any results object: every job writes under results/<jobId>/, and the job ids are not known at deployment; deletion only, within results/.',
      });
    }
    return Grant.addToPrincipal({
      grantee,
      actions: ['s3:DeleteObject'],
      resourceArns: [this.bucket.arnForObjects(`${BATCH_RESULTS_PREFIX}*`)],
    });
  }

  /**
   * Writing S3 jobs' results: a chunk's part is read back before it is written (a redelivery counts
   * what was written), the manifest HEADs every part (authorized as s3:GetObject), and both are put.
   */
  public bindResultWrites(grantee: IGrantable & { role?: IRole }): Grant {
    this.acknowledgeResultObjects(
      grantee,
      "Any job's results can be recorded: a chunk's part, under results/<jobId>/, is written by whichever function records its outcome; nothing outside results/.",
    );
    this.grantListing(grantee);
    return Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject'],
      resourceArns: [this.resultObjects],
    });
  }

  /**
   * `s3:ListBucket` on the bucket: S3 answers a read of a missing object 404 only to a caller that
   * has it, and 403 to any other (the permissions of HeadObject and GetObject in the S3 API
   * reference). Every function here reads objects that may not exist yet (a part not yet written, an
   * input not yet uploaded) and must tell that from a refusal. A listing shows keys, never contents.
   */
  private grantListing(grantee: IGrantable): void {
    Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [this.bucket.bucketArn] });
  }

  /**
   * The batch API's input upload routes and submissions: `s3:PutObject` covers what it presigns or
   * sends to write an input (PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload);
   * `s3:GetObject` covers HeadObject, which a submission reads each named input's size and ETag with.
   */
  public bindInputUploads(fn: IGrantable & { role?: IRole }): void {
    this.grantInputs(
      fn,
      ['s3:GetObject', 's3:PutObject'],
      'Uploads write, and submissions look up, input files',
    );
  }

  /**
   * The fan-out and the worker read input files by byte ranges (GetObject) and the fan-out looks
   * them up (HeadObject, authorized by `s3:GetObject`); nothing else.
   */
  public bindInputReads(fn: IGrantable & { role?: IRole }): void {
    this.grantInputs(fn, ['s3:GetObject'], 'Jobs read their input files');
  }

  private grantInputs(fn: IGrantable & { role?: IRole }, actions: string[], what: string): void {
    this.grantListing(fn);
    Grant.addToPrincipal({
      grantee: fn,
      actions,
      resourceArns: [this.bucket.arnForObjects(`${BATCH_INPUTS_PREFIX}*`)],
    });
    if (fn.role) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${BATCH_DATA_BUCKET_ID}.Arn>/${BATCH_INPUTS_PREFIX}*]`,
        reason: `${what}: each key is under its owner's digest and a random input id, known only at run time; only the inputs prefix.`,
      });
    }
  }

  /**
   * Linking to S3 jobs' results: the results route reads the manifest and presigns GETs of the parts,
   * which S3 authorizes as the signer's s3:GetObject.
   */
  public bindResultLinks(grantee: IGrantable & { role?: IRole }): Grant {
    this.acknowledgeResultObjects(
      grantee,
      "Any job's results can be linked: the route reads the manifest and presigns GETs of the parts of whichever job its caller may see; read only, nothing outside results/.",
    );
    this.grantListing(grantee);
    return Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.resultObjects] });
  }

  /** Jobs are created at run time, so a results grant is for the prefix, never one job's keys. */
  private acknowledgeResultObjects(grantee: { role?: IRole }, reason: string): void {
    if (!grantee.role) return;
    Validations.of(grantee.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${BATCH_DATA_BUCKET_ID}.Arn>/${BATCH_RESULTS_PREFIX}*]`,
      reason,
    });
  }
}
