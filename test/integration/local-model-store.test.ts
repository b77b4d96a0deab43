import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGzip } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  InvokeEndpointCommand,
  ModelError,
  type SageMakerRuntimeClient,
  ValidationError,
} from '@aws-sdk/client-sagemaker-runtime';
import { Header } from 'tar';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_UNPACKED_BYTES } from '../../contracts/model-store';
import { checkModelArchive } from '../../contracts/triton/model-archive';
import { readArchive } from '../../functions/handlers/models/archive-reader';
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

const MiB = 1024 * 1024;

/**
 * A gzip of `mib` MiB of zeros in `simple/1/zeros.bin` and the shipped `simple` model, made without
 * holding the zeros: the zeros first, a gzip that expands about 1,020 times, past node-tar's default
 * guard of 1,000; or, given `ending`, the model first and `ending` after the zeros as the tar's end.
 */
async function zerosArchive(mib: number, ending?: Buffer): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const bytes = buffer(gzip);
  const model = packModelRepositoryTar(REPOSITORY, ['simple']);
  // The model's tar without its two closing zero blocks, so that the zeros' member follows it.
  if (ending) gzip.write(model.subarray(0, model.length - 1024));
  const header = new Header({ path: 'simple/1/zeros.bin', size: mib * MiB, type: 'File', mode: 0o644 });
  header.encode();
  gzip.write(header.block!);
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) {
    if (!gzip.write(zeros)) await new Promise((drained) => gzip.once('drain', drained));
  }
  gzip.end(ending ?? model);
  return bytes;
}

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

  it('loads an archive the upload check accepts, whatever its gzip expands to', async () => {
    const bytes = await zerosArchive(64);
    const read = await readArchive(Readable.from([bytes]), MAX_UNPACKED_BYTES);
    expect(checkModelArchive(read.entries).folder).toBe('simple');
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'models/zeros.tar.gz', Body: bytes }));
    const answer = await invoke('zeros.tar.gz');
    expect(answer.$metadata.httpStatusCode).toBe(200);
  });

  it.each([
    // A block that is no tar header follows the zeros, which are still being written when it is read.
    ['tar breaks off after a large file', () => zerosArchive(200, Buffer.alloc(1024, 0x41))],
    // The gzip turns to garbage halfway through the zeros, leaving their file open.
    [
      'gzip breaks off inside a large file',
      async () => {
        const whole = await zerosArchive(64);
        return Buffer.concat([whole.subarray(0, whole.length / 2), Buffer.alloc(1024, 0xff)]);
      },
    ],
  ])(
    'answers an archive whose %s as a load failure (400, never 500), leaving nothing of it',
    async (label, make) => {
      const name = `unreadable-${label.split(' ')[0]}.tar.gz`;
      await s3.client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `models/${name}`, Body: await make() }),
      );
      const temporary = mkdtempSync(path.join(scratch, 'tmp-'));
      vi.stubEnv('TMPDIR', temporary);
      try {
        for (let i = 0; i < 3; i++) {
          const error = await errorOf(invoke(name));
          expect(error).toBeInstanceOf(ModelError);
          expect((error as ModelError).OriginalStatusCode).toBe(400);
          expect((error as ModelError).OriginalMessage).toContain(`failed to load ${name}`);
          expect(readdirSync(temporary)).toEqual([]);
        }
      } finally {
        vi.unstubAllEnvs();
      }
      // Nor a file of it held open, which would keep its disk space (Linux lists them in /proc).
      if (existsSync('/proc/self/fd')) {
        const open = readdirSync('/proc/self/fd').map((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`);
          } catch {
            return '';
          }
        });
        expect(open.filter((file) => file.startsWith(temporary))).toEqual([]);
      }
    },
  );
});
