import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { BATCH_INPUTS_PREFIX, BATCH_RESULTS_PREFIX } from '../../contracts/batch-data';
import { synthesizePlatform } from './platform-app';

describe('batch data bucket', () => {
  it('keeps inputs and results for the configured retention, encrypted, TLS only, never public', () => {
    const { template } = synthesizePlatform({ batchRetentionDays: 7 });
    const bucket = template.findResources('AWS::S3::Bucket').BatchDataBucket;
    expect(bucket?.DeletionPolicy).toBe('Retain');
    expect(bucket?.Properties.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
      { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
    ]);
    expect(bucket?.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    // Two retentions of 7 days: S3 counts from an object's writing, a job's data lives until one
    // retention after its end, and a job ends within one retention of its submission.
    expect(bucket?.Properties.LifecycleConfiguration.Rules).toEqual([
      { Id: 'ExpireInputs', Prefix: BATCH_INPUTS_PREFIX, ExpirationInDays: 14, Status: 'Enabled' },
      { Id: 'ExpireResults', Prefix: BATCH_RESULTS_PREFIX, ExpirationInDays: 14, Status: 'Enabled' },
      {
        Id: 'AbortIncompleteUploads',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        Status: 'Enabled',
      },
    ]);
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: 'BatchDataBucket' },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});
