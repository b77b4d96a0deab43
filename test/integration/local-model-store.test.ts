import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  InvokeEndpointCommand,
  ModelError,
  type SageMakerRuntimeClient,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceResponse } from '../../functions/inference/protocol';
import { gzipDeterministic, packModelRepositoryTar } from '../../lib/model-archive';
import { type LocalS3, startS3 } from '../../local/aws/s3';
import { type ModelServer, startModelServer } from '../../local/model-server/server';
import { localSageMaker } from '../helpers/local-clients';

const ENDPOINT = 'multi-model-endpoint';
const BUCKET = 'model-store';
const REPOSITORY = 'triton-image/model_repository';

const request = {
  inputs: [
    { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, (_, i) => i) },
    { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: Array.from({ length: 16 }, () => 1) },
  ],
};

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

describe('local multi-model endpoint on a model store in S3', () => {
  let s3: LocalS3;
  let server: ModelServer;
  let sagemaker: SageMakerRuntimeClient;
  let scratch: string;
  const downloads: string[] = [];

  const putArchive = (targetModel: string, repository: string, only: string[]) =>
    s3.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `models/${targetModel}`,
        Body: gzipDeterministic(packModelRepositoryTar(repository, only)),
      }),
    );
  const invoke = (targetModel: string) =>
    sagemaker.send(
      new InvokeEndpointCommand({
        EndpointName: ENDPOINT,
        TargetModel: targetModel,
        ContentType: 'application/json',
        Body: JSON.stringify(request),
      }),
    );

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(tmpdir(), 'model-store-test-'));
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket(BUCKET);
    // Every GetObject the endpoint sends, to see how often it downloads an archive.
    s3.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetObjectCommand') {
          downloads.push((args.input as { Key: string }).Key);
        }
        return next(args);
      },
      { step: 'initialize', name: 'countDownloads' },
    );
    // The server serves no model of its own: every TargetModel must come from the store.
    server = await startModelServer({
      models: [],
      endpoints: { [ENDPOINT]: {} },
      modelStore: { client: s3.client, bucket: BUCKET, prefix: 'models/' },
    });
    sagemaker = localSageMaker(server.url);
  });

  afterAll(async () => {
    sagemaker?.destroy();
    await server?.close();
    await s3?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('loads an archive on first request, once for concurrent requests, and answers under the TargetModel', async () => {
    await putArchive('simple-00000000000000aa.tar.gz', REPOSITORY, ['simple']);
    const before = downloads.length;
    const answers = await Promise.all([0, 1, 2].map(() => invoke('simple-00000000000000aa.tar.gz')));
    await invoke('simple-00000000000000aa.tar.gz');
    expect(downloads.slice(before)).toEqual(['models/simple-00000000000000aa.tar.gz']);
    for (const answer of answers) {
      const body = JSON.parse(new TextDecoder().decode(answer.Body)) as InferenceResponse;
      expect(body.model_name).toBe('simple-00000000000000aa.tar.gz');
      const sum = body.outputs.find((o) => o.name === 'OUTPUT0');
      expect(sum?.data).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    }
  });

  it('answers a TargetModel with no archive as SageMaker does: ValidationError', async () => {
    const error = await errorOf(invoke('missing-0123456789abcdef.tar.gz'));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain('missing-0123456789abcdef.tar.gz');
  });

  it('loads an archive uploaded after a failed request for it', async () => {
    await expect(invoke('late.tar.gz')).rejects.toBeInstanceOf(ValidationError);
    await putArchive('late.tar.gz', REPOSITORY, ['simple']);
    const answer = await invoke('late.tar.gz');
    expect(answer.$metadata.httpStatusCode).toBe(200);
  });

  it('passes on the load failure of an archive whose model cannot load, as a ModelError', async () => {
    const broken = path.join(scratch, 'broken');
    cpSync(path.join(REPOSITORY, 'simple'), path.join(broken, 'simple'), { recursive: true });
    writeFileSync(path.join(broken, 'simple', '1', 'model.onnx'), 'not an onnx model');
    await putArchive('broken.tar.gz', broken, ['simple']);
    const error = await errorOf(invoke('broken.tar.gz'));
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).OriginalStatusCode).toBe(400);
    expect((error as ModelError).OriginalMessage).toContain('broken.tar.gz');
  });

  it('answers a model of a backend it cannot run with an error that says it runs only when deployed', async () => {
    const torch = path.join(scratch, 'torch');
    cpSync(path.join(REPOSITORY, 'simple'), path.join(torch, 'simple'), { recursive: true });
    const config = path.join(torch, 'simple', 'config.pbtxt');
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(/platform: "onnxruntime_onnx"/, 'platform: "pytorch_libtorch"'),
    );
    renameSync(path.join(torch, 'simple', '1', 'model.onnx'), path.join(torch, 'simple', '1', 'model.pt'));
    await putArchive('torch.tar.gz', torch, ['simple']);
    const error = await errorOf(invoke('torch.tar.gz'));
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).OriginalMessage).toContain(
      'is a pytorch_libtorch model, which runs only on the deployed Triton endpoint',
    );
  });

  it('refuses an archive holding two model folders', async () => {
    await putArchive('two.tar.gz', REPOSITORY, ['iris', 'simple']);
    const error = await errorOf(invoke('two.tar.gz'));
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).OriginalMessage).toContain('holds 2 model folders');
  });
});
