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
import { BATCH_INPUTS_PREFIX, BATCH_RESULTS_PREFIX } from '../contracts/batch-data';

export interface BatchDataBucketProps {
  /** Days input files and results are kept (`batchRetentionDays`). */
  readonly retentionDays: number;
}

/** Pinned, so that moving the construct never replaces the bucket. */
export const BATCH_DATA_BUCKET_ID = 'BatchDataBucket';

/**
 * The lifecycle of batch data: input files and results expire after the retention, and the parts of
 * an upload never completed are aborted after a day. The local platform applies the same rules.
 */
export function batchDataLifecycleRules(retentionDays: number): LifecycleRule[] {
  return [
    { id: 'ExpireInputs', prefix: BATCH_INPUTS_PREFIX, expiration: Duration.days(retentionDays) },
    { id: 'ExpireResults', prefix: BATCH_RESULTS_PREFIX, expiration: Duration.days(retentionDays) },
    { id: 'AbortIncompleteUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
  ];
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
      lifecycleRules: batchDataLifecycleRules(props.retentionDays),
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
   * Writing S3 jobs' results: a chunk's part is read back before it is written (a redelivery counts
   * what was written), the manifest HEADs every part (authorized as s3:GetObject), and both are put.
   */
  public bindResultWrites(grantee: IGrantable & { role?: IRole }): Grant {
    this.acknowledgeResultObjects(
      grantee,
      "Any job's results can be recorded: a chunk's part, under results/<jobId>/, is written by whichever function records its outcome; nothing outside results/.",
    );
    return Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject'],
      resourceArns: [this.resultObjects],
    });
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
