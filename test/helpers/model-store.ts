import { CopyObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { MODEL_STORE_PREFIX } from '../../lib/served-models';
import { MODEL_STORE_BUCKET } from '../../local/platform';
import { LOCAL_CREDENTIALS } from './local-clients';

/**
 * Copies a shipped model's archive in the local model store to another TargetModel name, so that a
 * test can register the same model as a separate archive (its own circuit, its own cache entry).
 */
export async function copyShippedArchive(s3Url: string, model: string, targetModel: string): Promise<void> {
  const s3 = new S3Client({ endpoint: s3Url, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  try {
    await s3.send(
      new CopyObjectCommand({
        Bucket: MODEL_STORE_BUCKET,
        Key: `${MODEL_STORE_PREFIX}${targetModel}`,
        CopySource: `${MODEL_STORE_BUCKET}/${MODEL_STORE_PREFIX}${model}.tar.gz`,
      }),
    );
  } finally {
    s3.destroy();
  }
}
