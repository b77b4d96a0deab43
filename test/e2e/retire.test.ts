import { HeadObjectCommand, NotFound, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { InvokeEndpointCommand, type SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipDeterministic, packModelRepositoryTar } from '../../lib/model-archive';
import { platformToken } from '../../local/dev-credentials';
import { MODEL_STORE_BUCKET } from '../../local/platform';
import { type PlatformProcess, startPlatformProcess } from '../../local/platform-process';
import { localSageMaker } from '../helpers/local-clients';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

/** An archive pushed for a new version: not one the deployment ships. */
const ARCHIVE = 'retired-adder-00000000000000e1.tar.gz';
const ENDPOINT = 'local-triton';
const ones = Array.from({ length: 16 }, () => 1);
const INFER = {
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: ones },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: ones },
  ],
};
const registration = (version: string) => ({
  name: 'retired-adder',
  version,
  platform: 'onnxruntime_onnx',
  ...SIMPLE_SIGNATURE,
  backends: [{ endpointName: ENDPOINT, targetModel: ARCHIVE }],
});

describe('deleting a version retires its archive (npm start)', () => {
  let platform: PlatformProcess;
  let token: string;
  let s3: S3Client;
  let sagemaker: SageMakerRuntimeClient;

  const call = async (path: string, method: string, json?: unknown) => {
    const response = await fetch(`${platform.apiUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const stored = async () => {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: MODEL_STORE_BUCKET, Key: `models/${ARCHIVE}` }));
      return true;
    } catch (error) {
      if (error instanceof NotFound) return false;
      throw error;
    }
  };

  beforeAll(async () => {
    platform = await startPlatformProcess({ REGISTRY_CACHE_TTL_MS: '1000' });
    token = await platformToken({ sub: 'platform-team', scope: 'models:read models:write inference:invoke' });
    s3 = new S3Client({
      endpoint: platform.s3Url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    sagemaker = localSageMaker(platform.modelServerUrl);
    await s3.send(
      new PutObjectCommand({
        Bucket: MODEL_STORE_BUCKET,
        Key: `models/${ARCHIVE}`,
        Body: gzipDeterministic(packModelRepositoryTar('triton-image/model_repository', ['simple'])),
      }),
    );
  });

  afterAll(async () => {
    s3?.destroy();
    sagemaker?.destroy();
    await platform?.stop();
  });

  it('serves the version, removes its archive once it is deleted, and refuses the archive while it is gone', async () => {
    expect((await call('/v1/models', 'POST', registration('1'))).status).toBe(201);
    const answer = await call('/v2/models/retired-adder/versions/1/infer', 'POST', INFER);
    expect(answer.status).toBe(200);

    expect((await call('/v1/models/retired-adder/versions/1', 'DELETE')).status).toBe(204);
    expect(await stored()).toBe(false);

    // The endpoint keeps the loaded model, as SageMaker does, until it needs the room.
    const direct = await sagemaker.send(
      new InvokeEndpointCommand({
        EndpointName: ENDPOINT,
        TargetModel: ARCHIVE,
        ContentType: 'application/json',
        Body: JSON.stringify(INFER),
      }),
    );
    expect(direct.$metadata.httpStatusCode).toBe(200);

    const refused = await call('/v1/models', 'POST', registration('2'));
    expect(refused.status).toBe(409);
    expect(JSON.stringify(refused.body)).toContain(`archive ${ARCHIVE} was retired`);
    expect((await call('/v1/models/retired-adder/versions/2', 'GET')).status).toBe(404);
  });

  it("shows the endpoint's model cache metrics in the local console", async () => {
    const summary = (await (await fetch(`${platform.consoleUrl}/api/endpoint-metrics`)).json()) as {
      variants: { dimensions: { EndpointName: string }; metrics: Record<string, { sampleCount: number }> }[];
    };
    const local = summary.variants.find((v) => v.dimensions.EndpointName === ENDPOINT);
    // The first request for the pushed archive missed the cache and waited for its load.
    expect(local?.metrics.ModelCacheHit?.sampleCount).toBeGreaterThanOrEqual(2);
    expect(local?.metrics.ModelLoadingWaitTime?.sampleCount).toBeGreaterThanOrEqual(1);
    expect(local?.metrics.LoadedModelCount?.sampleCount).toBeGreaterThanOrEqual(1);

    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
    try {
      const page = await browser.newPage();
      await page.goto(platform.consoleUrl);
      const hits = page.locator('#endpoint-metrics [data-metric="ModelCacheHit"]');
      await hits.first().waitFor({ timeout: 10_000 });
      expect(await hits.first().textContent()).toContain(ENDPOINT);
    } finally {
      await browser.close();
    }
  });
});
