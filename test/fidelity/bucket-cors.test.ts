import { describe, expect, it } from 'vitest';
import { type BucketCorsRule, batchDataCors, modelStoreCors } from '../../contracts/cors';
import { BATCH_DATA_BUCKET_ID } from '../../lib/batch-data-bucket';
import { MODEL_STORE_BUCKET_ID } from '../../lib/model-store';
import { synthesizePlatform } from '../infra/platform-app';

/** The rules the local S3 emulator answers browsers with (`local/platform.ts`) against the template's. */
describe('local bucket CORS matches the stack', () => {
  const origins = ['https://app.example.com', 'http://localhost:5173'];
  const { template } = synthesizePlatform({ allowedOrigins: origins.join(',') });
  const buckets = template.findResources('AWS::S3::Bucket');
  const deployed = (logicalId: string): BucketCorsRule[] =>
    (
      (buckets[logicalId]?.Properties.CorsConfiguration?.CorsRules ?? []) as {
        AllowedMethods: BucketCorsRule['allowedMethods'];
        AllowedOrigins: string[];
        AllowedHeaders: string[];
        ExposedHeaders: string[];
        MaxAge: number;
      }[]
    ).map((rule) => ({
      allowedMethods: rule.AllowedMethods,
      allowedOrigins: rule.AllowedOrigins,
      allowedHeaders: rule.AllowedHeaders,
      exposedHeaders: rule.ExposedHeaders,
      maxAgeSeconds: rule.MaxAge,
    }));

  it('gives the batch data bucket the rule its presigned uploads and result links need, for the allowed origins', () => {
    expect(deployed(BATCH_DATA_BUCKET_ID)).toEqual(batchDataCors(origins));
    expect(batchDataCors(origins)[0]).toMatchObject({
      allowedMethods: ['GET', 'HEAD', 'PUT'],
      allowedOrigins: origins,
      exposedHeaders: ['ETag'],
    });
  });

  it('gives the model store the rule its presigned uploads need, and no other bucket a rule', () => {
    expect(deployed(MODEL_STORE_BUCKET_ID)).toEqual(modelStoreCors(origins));
    expect(modelStoreCors(origins)[0]?.allowedMethods).toEqual(['PUT']);
    const withCors = Object.entries(buckets)
      .filter(([, bucket]) => bucket.Properties?.CorsConfiguration)
      .map(([id]) => id);
    expect(withCors.sort()).toEqual([BATCH_DATA_BUCKET_ID, MODEL_STORE_BUCKET_ID].sort());
  });
});
