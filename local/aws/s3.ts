import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';
import { LOOPBACK } from '../loopback';

export interface LocalS3 {
  /** The endpoint S3 clients are given (`AWS_ENDPOINT_URL_S3`). */
  readonly url: string;
  /** A client of this emulator, closed with it. */
  readonly client: S3Client;
  /** Creates a bucket through the S3 API, as a deployment would. */
  createBucket(name: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * fauxqs's S3 (PutObject, GetObject with ranges, HeadObject, DeleteObject, ListObjectsV2, CopyObject
 * and the multipart actions) in memory on the loopback address, in an app of its own beside SQS.
 * It checks no signature and no `x-amz-checksum-*` header: whatever trusts an upload must check its
 * bytes itself, as the platform does by hashing the archive it registers.
 *
 * The endpoint is an IP address, so the SDK addresses buckets by path (`/<bucket>/<key>`) and fauxqs
 * routes them without a virtual-hosted name.
 */
export async function startS3(options: { region: string; port?: number }): Promise<LocalS3> {
  const app = buildApp({ logger: false, host: LOOPBACK });
  const url = await app.listen({ port: options.port ?? 0, host: LOOPBACK });
  const client = new S3Client({
    endpoint: url,
    region: options.region,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    url,
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async close() {
      client.destroy();
      await app.close();
    },
  };
}
