import type { CorsRule, HttpMethods } from 'aws-cdk-lib/aws-s3';
import type { BucketCorsRule } from '../contracts/cors';

/** A bucket's CORS rules (`contracts/cors.ts`) as the CDK takes them. */
export function bucketCors(rules: readonly BucketCorsRule[]): CorsRule[] {
  return rules.map((rule) => ({
    allowedMethods: rule.allowedMethods.map((method) => method as HttpMethods),
    allowedOrigins: [...rule.allowedOrigins],
    allowedHeaders: [...rule.allowedHeaders],
    exposedHeaders: [...rule.exposedHeaders],
    maxAge: rule.maxAgeSeconds,
  }));
}
