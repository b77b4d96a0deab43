import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  InvokeEndpointCommand,
  type SageMakerRuntimeClient,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipDeterministic, packModelRepositoryTar } from '../../lib/model-archive';
import { SAGEMAKER_METRIC_STATISTICS } from '../../lib/platform-alarms';
import { type LocalS3, startS3 } from '../../local/aws/s3';
import { LocalModelStore } from '../../local/model-server/model-store';
import { MULTI_MODEL_METRICS, MultiModelMetrics } from '../../local/model-server/multi-model-metrics';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { localSageMaker } from '../helpers/local-clients';

const ENDPOINT = 'multi-model-endpoint';
const BUCKET = 'model-cache-store';
const REPOSITORY = 'triton-image/model_repository';
/** The bytes of a model folder's files: what a loaded model counts against the budget. */
const folderBytes = (model: string) =>
  readdirSync(path.join(REPOSITORY, model), { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile())
    .reduce((sum, f) => sum + statSync(path.join(f.parentPath, f.name)).size, 0);
/** Room for the model folder of `simple` or of `iris`, not both. */
const BUDGET = folderBytes('simple') + folderBytes('iris') - 1;
const DIMENSIONS = { EndpointName: ENDPOINT, VariantName: 'AllTraffic' };

const SIMPLE = 'simple-00000000000000c1.tar.gz';
const IRIS = 'iris-00000000000000c2.tar.gz';
/** The same model folder under another TargetModel: a third target to load. */
const SIMPLE_AGAIN = 'simple-00000000000000c3.tar.gz';

const requests: Record<string, object> = {
  [SIMPLE]: {
    inputs: [
      { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, (_, i) => i) },
      { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
    ],
  },
  [IRIS]: { inputs: [{ name: 'FEATURES', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] },
};

describe('the local multi-model endpoint under a memory budget', () => {
  let s3: LocalS3;
  let server: ModelServer;
  let sagemaker: SageMakerRuntimeClient;
  const downloads: string[] = [];

  const putArchive = (targetModel: string, model: string) =>
    s3.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `models/${targetModel}`,
        Body: gzipDeterministic(packModelRepositoryTar(REPOSITORY, [model])),
      }),
    );
  const invoke = (targetModel: string) =>
    sagemaker.send(
      new InvokeEndpointCommand({
        EndpointName: ENDPOINT,
        TargetModel: targetModel,
        ContentType: 'application/json',
        Body: JSON.stringify(requests[targetModel]),
      }),
    );
  const values = (metric: string) =>
    server.multiModelMetrics
      .recent(60_000)
      .filter((p) => p.metric === metric)
      .map((p) => p.value);

  beforeAll(async () => {
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket(BUCKET);
    s3.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetObjectCommand') downloads.push((args.input as { Key: string }).Key);
        return next(args);
      },
      { step: 'initialize', name: 'countDownloads' },
    );
    await putArchive(SIMPLE, 'simple');
    await putArchive(IRIS, 'iris');
    server = await startModelServer({
      models: [],
      endpoints: { [ENDPOINT]: {} },
      modelStore: { client: s3.client, bucket: BUCKET, prefix: 'models/' },
      modelMemoryBudgetBytes: BUDGET,
    });
    sagemaker = localSageMaker(server.url);
  });

  afterAll(async () => {
    sagemaker?.destroy();
    await server?.close();
    await s3?.close();
  });

  it('unloads the least recently used model to load another, and downloads it again when asked', async () => {
    // Act: simple twice, iris (which needs simple's room), then simple again
    await invoke(SIMPLE);
    await invoke(SIMPLE);
    await invoke(IRIS);
    await invoke(SIMPLE);

    // Assess
    expect(downloads).toEqual([`models/${SIMPLE}`, `models/${IRIS}`, `models/${SIMPLE}`]);
    expect(values('ModelCacheHit')).toEqual([0, 1, 0, 0]);
    expect(values('ModelUnloadingTime')).toHaveLength(2);
    expect(values('ModelDownloadingTime')).toHaveLength(3);
    expect(values('ModelLoadingTime')).toHaveLength(3);
    // Each load, then each unload, reports the count: never more than one model in this budget.
    expect(values('LoadedModelCount').every((n) => n <= 1)).toBe(true);
    expect(values('LoadedModelCount').at(-1)).toBe(1);
    // Only the requests that missed the cache waited for a load.
    expect(values('ModelLoadingWaitTime')).toHaveLength(3);
    expect(values('ModelLoadingWaitTime').every((us) => Number.isInteger(us) && us > 0)).toBe(true);
  });

  it('keeps serving a loaded model whose archive was deleted, until it is unloaded', async () => {
    await invoke(SIMPLE);
    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `models/${SIMPLE}` }));

    const stillLoaded = await invoke(SIMPLE);
    expect(stillLoaded.$metadata.httpStatusCode).toBe(200);

    // Loading iris unloads simple; its archive is gone, so it cannot come back.
    await invoke(IRIS);
    await expect(invoke(SIMPLE)).rejects.toBeInstanceOf(ValidationError);
    await putArchive(SIMPLE, 'simple');
  });

  it('reports the statistics of each metric per endpoint variant', () => {
    const summary = server.multiModelMetrics.summary(60_000);
    expect(summary.namespace).toBe('AWS/SageMaker');
    expect(summary.variants.map((v) => v.dimensions)).toEqual([DIMENSIONS]);
    const hits = summary.variants[0]!.metrics.ModelCacheHit!;
    expect(hits.unit).toBe('None');
    expect(hits.average).toBeCloseTo(hits.sum / hits.sampleCount);
    expect(summary.variants[0]!.metrics.ModelLoadingWaitTime!.unit).toBe('Microseconds');
  });

  it('records only metrics of the documented SageMaker table the dashboard and alarms are checked against', () => {
    const documented = Object.keys(SAGEMAKER_METRIC_STATISTICS);
    for (const name of Object.keys(MULTI_MODEL_METRICS)) expect(documented).toContain(name);
  });
});

describe('the local model store never unloads a model an invocation is using', () => {
  let s3: LocalS3;

  beforeAll(async () => {
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket(BUCKET);
    for (const [name, model] of [
      [SIMPLE, 'simple'],
      [IRIS, 'iris'],
      [SIMPLE_AGAIN, 'simple'],
    ] as const) {
      await s3.client.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: `models/${name}`,
          Body: gzipDeterministic(packModelRepositoryTar(REPOSITORY, [model])),
        }),
      );
    }
  });

  afterAll(async () => {
    await s3?.close();
  });

  it('loads past the budget while the other model is held, and unloads it once released', async () => {
    const metrics = new MultiModelMetrics();
    const store = new LocalModelStore(
      { client: s3.client, bucket: BUCKET, prefix: 'models/' },
      { memoryBudgetBytes: BUDGET, metrics },
    );
    try {
      const simple = await store.acquire(SIMPLE, DIMENSIONS);
      const iris = await store.acquire(IRIS, DIMENSIONS);
      expect(store.loaded().sort()).toEqual([IRIS, SIMPLE]);

      simple.release();
      iris.release();
      // A third target needs room: both are free now and both must go for it to fit.
      const third = await store.acquire(SIMPLE_AGAIN, DIMENSIONS);
      third.release();
      expect(store.loaded()).toEqual([SIMPLE_AGAIN]);
      expect(metrics.recent(60_000).filter((p) => p.metric === 'ModelUnloadingTime')).toHaveLength(2);
    } finally {
      await store.close();
    }
  });
});
