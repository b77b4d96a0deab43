import { S3Client } from '@aws-sdk/client-s3';
import { tracer } from '../observability/tracer';

/**
 * The batch functions' client of the batch data bucket. Checksums only where S3 requires them: a
 * presigned upload is signed without one, and the local emulator checks none.
 */
export const s3 = tracer.captureAWSv3Client(new S3Client({ requestChecksumCalculation: 'WHEN_REQUIRED' }));

/** The batch data bucket through an S3 client: input files, result parts and manifests. */
export interface BatchData {
  readonly s3: S3Client;
  readonly bucket: string;
}
