import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { S3Client } from '@aws-sdk/client-s3';
import { create as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SINGLE_PUT_MAX_BYTES } from '../../contracts/model-store';
import type { WarmUpMessage } from '../../contracts/model-warmup';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { BadRequestError, ConflictError } from '../../functions/edge/errors';
import { ModelUploads, type StartedUpload } from '../../functions/handlers/models/uploads';
import { gzipDeterministic, packModelRepositoryTar } from '../../lib/model-archive';
import { type LocalS3, startS3 } from '../../local/aws/s3';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';
import { type TempRepository, tempRepository } from '../helpers/temp-repository';

type Registered = Omit<ModelVersion, 'createdAt' | 'updatedAt'>;

/** Pushes through the upload routes' service against the local S3, as the models function does. */
describe('model uploads', () => {
  let s3: LocalS3;
  let client: S3Client;
  let repos: TempRepository[] = [];
  const Bucket = 'model-store';
  const registered: Registered[] = [];
  const existing = new Set<string>();
  const warmUps: WarmUpMessage[] = [];

  const uploads = ({ endpointName }: { endpointName?: string } = { endpointName: 'local-endpoint' }) =>
    new ModelUploads(
      { client, bucket: Bucket, endpointName },
      async (version) => {
        registered.push(version);
        return { ...version, createdAt: 'now', updatedAt: 'now' };
      },
      async (name, version) => existing.has(`${name}/${version}`),
      async (message) => {
        warmUps.push(message);
      },
    );

  /** The shipped `simple` model as `model`, its config edited, `files` added to its folder, packed as the stack packs. */
  const archive = async (
    model: string,
    edit?: (config: string) => string,
    files: Record<string, Buffer> = {},
  ) => {
    const repo = await tempRepository();
    repos.push(repo);
    await repo.copyShipped('simple', model, edit);
    for (const [file, data] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(repo.dir, model, file)), { recursive: true });
      await writeFile(path.join(repo.dir, model, file), data);
    }
    const bytes = gzipDeterministic(packModelRepositoryTar(repo.dir));
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  };

  /** Uploads as a client does with what start answered. */
  const upload = async (started: StartedUpload, bytes: Buffer) => {
    if (started.mode === 'single') {
      const response = await fetch(started.url, { method: 'PUT', headers: started.headers, body: bytes });
      expect(response.status).toBe(200);
      return {};
    }
    if (started.mode === 'multipart') {
      const parts = [];
      for (const part of started.parts) {
        const body = bytes.subarray(
          (part.partNumber - 1) * started.partSize,
          part.partNumber * started.partSize,
        );
        const response = await fetch(part.url, { method: 'PUT', body });
        expect(response.status).toBe(200);
        parts.push({ partNumber: part.partNumber, etag: response.headers.get('etag')! });
      }
      return { uploadId: started.uploadId, parts };
    }
    return {};
  };

  beforeAll(async () => {
    s3 = await startS3({ region: 'us-east-1' });
    await s3.createBucket(Bucket);
    // The function's client: path-style on the emulator's IP endpoint, no computed checksums.
    client = new S3Client({
      endpoint: s3.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
  });

  afterAll(async () => {
    client?.destroy();
    await s3?.close();
    await Promise.all(repos.map((r) => r.remove()));
    repos = [];
  });

  it('presigns one PUT with the stated SHA-256 and registers the checked version', async () => {
    const { bytes, sha256 } = await archive('adder');
    const started = await uploads().start('adder', '1', { sha256, size: bytes.length });
    expect(started).toMatchObject({ mode: 'single', archive: `adder-${sha256.slice(0, 16)}.tar.gz` });
    if (started.mode !== 'single') throw new Error('expected one PUT');
    expect(started.headers['x-amz-checksum-sha256']).toBe(Buffer.from(sha256, 'hex').toString('base64'));
    await upload(started, bytes);

    const version = await uploads().complete('adder', '1', { sha256, description: 'pushed' });
    expect(version).toMatchObject({
      name: 'adder',
      version: '1',
      platform: 'onnxruntime_onnx',
      ...SIMPLE_SIGNATURE,
      backends: [{ endpointName: 'local-endpoint', targetModel: started.archive, weight: 100 }],
      status: 'LOADING',
      description: 'pushed',
    });
    // Its warm-up is queued: one request of zeros from the signature, the batch dimension 1.
    expect(warmUps.at(-1)).toMatchObject({
      name: 'adder',
      version: '1',
      archive: started.archive,
      source: 'signature',
      attempt: 0,
      inputs: [
        { name: 'INPUT0', datatype: 'INT32', shape: [1, 16], fill: 'zero' },
        { name: 'INPUT1', datatype: 'INT32', shape: [1, 16], fill: 'zero' },
      ],
    });
    // The archive is stored: starting again uploads nothing.
    expect(await uploads().start('adder', '2', { sha256, size: bytes.length })).toEqual({
      archive: started.archive,
      mode: 'stored',
    });
  });

  it('uploads in parts above the single PUT limit', { timeout: 60_000 }, async () => {
    const { bytes, sha256 } = await archive('padded', undefined, {
      '1/padding.bin': randomBytes(SINGLE_PUT_MAX_BYTES + 1024),
    });
    const started = await uploads().start('padded', '1', { sha256, size: bytes.length });
    expect(started.mode).toBe('multipart');
    const completion = await upload(started, bytes);
    const version = await uploads().complete('padded', '1', { sha256, ...completion });
    expect(version.backends[0]!.targetModel).toBe(started.archive);
  });

  it('refuses an archive whose config disagrees with its model, naming the tensor', async () => {
    const { bytes, sha256 } = await archive('wrong', (config) =>
      config.replace(
        'name: "OUTPUT1"\n    data_type: TYPE_INT32',
        'name: "OUTPUT1"\n    data_type: TYPE_FP32',
      ),
    );
    await upload(await uploads().start('wrong', '1', { sha256, size: bytes.length }), bytes);
    const refused = uploads().complete('wrong', '1', { sha256 });
    await expect(refused).rejects.toThrow(BadRequestError);
    await expect(refused).rejects.toThrow(
      "output 'OUTPUT1': the config declares TYPE_FP32, the model provides INT32",
    );
  });

  /** The `simple` config with one `model_warmup` sample `big`, each input's `dims` and fill given. */
  const withWarmUp =
    (batchSize: number, input0: string, input1 = 'dims: [ 16 ] zero_data: true') =>
    (config: string) =>
      `${config}\nmodel_warmup [ { name: "big" batch_size: ${batchSize}
      inputs { key: "INPUT0" value: { data_type: TYPE_INT32 ${input0} } }
      inputs { key: "INPUT1" value: { data_type: TYPE_INT32 ${input1} } } } ]\n`;

  it.each([
    [
      "whose dims are not the input's",
      withWarmUp(100, 'dims: [ 1000000000 ] zero_data: true'),
      "model_warmup sample 'big': unexpected shape for input 'INPUT0': expected [16], got [1000000000]",
    ],
    [
      'that gives one of two required inputs',
      (config: string) =>
        `${config}\nmodel_warmup [ { name: "big" batch_size: 1
          inputs { key: "INPUT0" value: { data_type: TYPE_INT32 dims: [ 16 ] zero_data: true } } } ]\n`,
      "model_warmup sample 'big': expected 2 inputs but got 1; missing required input(s) 'INPUT1'",
    ],
  ])(
    'refuses a model_warmup sample %s as Triton would at load, registering nothing',
    async (_, edit, reason) => {
      const model = `warm-${registered.length}-${reason.length}`;
      const { bytes, sha256 } = await archive(model, edit);
      await upload(await uploads().start(model, '1', { sha256, size: bytes.length }), bytes);
      const [before, queued] = [registered.length, warmUps.length];
      const refused = uploads().complete(model, '1', { sha256 });
      await expect(refused).rejects.toThrow(BadRequestError);
      await expect(refused).rejects.toThrow(`the archive is refused: ${model}/config.pbtxt: ${reason}`);
      expect([registered.length, warmUps.length]).toEqual([before, queued]);
    },
  );

  it('takes a model_warmup input read from a file of the warmup folder, and refuses a file shorter than its dims', async () => {
    /** `simple` as `model`, its sample reading INPUT0 (16 INT32 elements, 64 bytes) from a file of `size` bytes. */
    const withFile = async (model: string, size: number) => {
      const { bytes, sha256 } = await archive(
        model,
        withWarmUp(1, 'dims: [ 16 ] input_data_file: "input0.bin"'),
        { 'warmup/input0.bin': Buffer.alloc(size) },
      );
      await upload(await uploads().start(model, '1', { sha256, size: bytes.length }), bytes);
      return () => uploads().complete(model, '1', { sha256 });
    };

    const refused = (await withFile('warm-file-short', 63))();
    await expect(refused).rejects.toThrow(BadRequestError);
    await expect(refused).rejects.toThrow(
      "warm-file-short/config.pbtxt: model_warmup sample 'big': input 'INPUT0' reads warmup/input0.bin, which holds 63 bytes; the input's dims take 64",
    );
    const version = await (await withFile('warm-file', 64))();
    expect(version).toMatchObject({ name: 'warm-file', version: '1' });
  });

  it('refuses a model_warmup sample whose request would exceed what an endpoint accepts, registering nothing', async () => {
    // Triton accepts it (dims as declared, a model whose batches hold a million rows); its request
    // would be ~32 MB. Under a smaller max_batch_size the request would hold that many rows only.
    const sample = withWarmUp(1_000_000, 'dims: [ 16 ] random_data: true');
    const { bytes, sha256 } = await archive('heavy', (config) =>
      sample(config.replace('max_batch_size: 8', 'max_batch_size: 1000000')),
    );
    await upload(await uploads().start('heavy', '1', { sha256, size: bytes.length }), bytes);
    const [before, queued] = [registered.length, warmUps.length];
    const refused = uploads().complete('heavy', '1', { sha256 });
    await expect(refused).rejects.toThrow(BadRequestError);
    await expect(refused).rejects.toThrow(
      /^the archive is refused: model_warmup sample 'big': its warm-up request would take up to \d+ bytes, over the 6291456 InvokeEndpoint accepts; input 'INPUT0' of shape \[1000000, 16\]/,
    );
    expect([registered.length, warmUps.length]).toEqual([before, queued]);
  });

  /** A TensorRT plan archive (not loaded by the check) whose config declares `inputs`. */
  const planArchive = async (model: string, inputs: string) => {
    const repo = await tempRepository();
    repos.push(repo);
    await mkdir(path.join(repo.dir, model, '1'), { recursive: true });
    await writeFile(path.join(repo.dir, model, '1', 'model.plan'), 'plan');
    await writeFile(
      path.join(repo.dir, model, 'config.pbtxt'),
      `name: "${model}"\nplatform: "tensorrt_plan"\nmax_batch_size: 0\ninput [ ${inputs} ]\n` +
        'output [ { name: "OUT" data_type: TYPE_FP32 dims: [ 4 ] } ]\n',
    );
    const bytes = gzipDeterministic(packModelRepositoryTar(repo.dir));
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  };

  it.each([
    [
      'an input name past 128 characters',
      `{ name: "${'x'.repeat(129)}" data_type: TYPE_FP32 dims: [ 4 ] }`,
      'inputs.0.name',
    ],
    [
      'an input of 17 dimensions',
      `{ name: "IN" data_type: TYPE_FP32 dims: [ ${Array(17).fill(1).join(', ')} ] }`,
      'inputs.0.shape',
    ],
    [
      'two inputs of one name',
      '{ name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }, { name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }',
      'inputs: tensor names must be unique',
    ],
  ])(
    'refuses an archive whose model a registration would refuse (%s), naming the field',
    async (_, inputs, field) => {
      const model = `bounds-${registered.length}-${field.length}`;
      const { bytes, sha256 } = await planArchive(model, inputs);
      await upload(await uploads().start(model, '1', { sha256, size: bytes.length }), bytes);
      const before = registered.length;
      const refused = uploads().complete(model, '1', { sha256 });
      await expect(refused).rejects.toThrow(BadRequestError);
      await expect(refused).rejects.toThrow(`invalid model in the archive: ${field}`);
      expect(registered.length).toBe(before);
    },
  );

  it('refuses bytes whose SHA-256 is not the one stated, and frees the key for the right ones', {
    timeout: 60_000,
  }, async () => {
    const stated = createHash('sha256').update('something else').digest('hex');
    // One PUT carries the stated hash as its checksum: S3 refuses other bytes itself (BadDigest).
    const { bytes } = await archive('liar');
    const single = await uploads().start('liar', '1', { sha256: stated, size: bytes.length });
    if (single.mode !== 'single') throw new Error('expected one PUT');
    const put = await fetch(single.url, { method: 'PUT', headers: single.headers, body: bytes });
    expect([put.status, await put.text()]).toEqual([400, expect.stringContaining('BadDigest')]);

    // Parts carry no such checksum, so only the completion's own hash catches other bytes.
    const padded = await archive('liar', undefined, {
      '1/padding.bin': randomBytes(SINGLE_PUT_MAX_BYTES + 1024),
    });
    const started = await uploads().start('liar', '1', { sha256: stated, size: padded.bytes.length });
    expect(started.mode).toBe('multipart');
    const completion = await upload(started, padded.bytes);
    await expect(uploads().complete('liar', '1', { sha256: stated, ...completion })).rejects.toThrow(
      `not the ${stated} the upload stated`,
    );
    // The wrong bytes are gone: the next start presigns an upload rather than answering `stored`.
    const again = await uploads().start('liar', '1', { sha256: stated, size: padded.bytes.length });
    expect(again.mode).toBe('multipart');

    // Bytes that are not even an archive, under another hash, go the same way; an archive's own
    // bytes that fail its checks stay, since they are what their key names.
    const junk = Buffer.alloc(SINGLE_PUT_MAX_BYTES + 1024, 0x61);
    const junkCompletion = await upload(again, junk);
    await expect(uploads().complete('liar', '1', { sha256: stated, ...junkCompletion })).rejects.toThrow(
      'not a gzip file',
    );
    expect((await uploads().start('liar', '1', { sha256: stated, size: junk.length })).mode).toBe(
      'multipart',
    );
    const small = Buffer.from('not a gzip file');
    const named = createHash('sha256').update(small).digest('hex');
    await upload(await uploads().start('liar', '1', { sha256: named, size: small.length }), small);
    await expect(uploads().complete('liar', '1', { sha256: named })).rejects.toThrow('not a gzip file');
    expect((await uploads().start('liar', '1', { sha256: named, size: small.length })).mode).toBe('stored');
  });

  it('refuses a version the archive does not serve, an existing version and a single-model endpoint', async () => {
    const { bytes, sha256 } = await archive('versioned');
    await upload(await uploads().start('versioned', '3', { sha256, size: bytes.length }), bytes);
    await expect(uploads().complete('versioned', '3', { sha256 })).rejects.toThrow(
      'the archive serves version 1 of versioned, not version 3',
    );
    existing.add('versioned/1');
    await expect(uploads().complete('versioned', '1', { sha256 })).rejects.toThrow(ConflictError);
    await expect(uploads({}).start('other', '1', { sha256, size: 1 })).rejects.toThrow(
      'needs servingMode multi-model',
    );
  });

  it('refuses a completion of nothing uploaded and an archive with two model folders', async () => {
    const sha256 = createHash('sha256').update('never uploaded').digest('hex');
    await expect(uploads().complete('ghost', '1', { sha256 })).rejects.toThrow('no archive with SHA-256');

    const repo = await tempRepository();
    repos.push(repo);
    await repo.copyShipped('simple', 'one');
    await mkdir(path.join(repo.dir, 'two'));
    await writeFile(path.join(repo.dir, 'two', 'README'), 'x');
    const bytes = gzipDeterministic(packModelRepositoryTar(repo.dir));
    const hash = createHash('sha256').update(bytes).digest('hex');
    await upload(await uploads().start('one', '1', { sha256: hash, size: bytes.length }), bytes);
    await expect(uploads().complete('one', '1', { sha256: hash })).rejects.toThrow(
      'must hold one model folder at its root, it holds 2: one, two',
    );
  });

  it.each([
    ['a symlink to /etc/passwd', ['linked'], (dir: string) => symlink('/etc/passwd', `${dir}/linked/link`)],
    [
      'a symlink up out of the archive',
      ['linked'],
      (dir: string) => symlink('../../x', `${dir}/linked/1/link`),
    ],
    // node-tar packs a second name of a file as a hard link to the first name it packed.
    [
      'a hard link to a file outside the model folder',
      ['outside', 'linked'],
      async (dir: string) => {
        await writeFile(`${dir}/outside`, 'x');
        await link(`${dir}/outside`, `${dir}/linked/link`);
      },
    ],
  ])('refuses with a 400 an archive holding %s, as tar packs it', async (_, names, add) => {
    const repo = await tempRepository();
    repos.push(repo);
    await repo.copyShipped('simple', 'linked');
    await add(repo.dir);
    const bytes = await buffer(createTar({ gzip: true, cwd: repo.dir, portable: true }, names));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await upload(await uploads().start('linked', '1', { sha256, size: bytes.length }), bytes);
    const completion = uploads().complete('linked', '1', { sha256 });
    await expect(completion).rejects.toThrow(BadRequestError);
    await expect(completion).rejects.toThrow(/links to ".*", outside its model folder linked\/$/);
  });
});
