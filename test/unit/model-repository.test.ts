import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TensorSignature } from '../../contracts/model-signature';
import { DataType } from '../../contracts/triton/gen/model_config_pb';
import { loadModelRepository, modelFilePath, toV2Datatype } from '../../triton-image/model-repository';
import { DEFAULT_REPOSITORY_DIR } from '../../triton-image/scripts/build-models';
import { SIMPLE_SIGNATURE } from '../helpers/simple-model';

function config(name: string, extra = ''): string {
  return `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [ { name: "X" data_type: TYPE_FP32 dims: [ 3 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 2 ] } ]
${extra}`;
}

describe('loadModelRepository', () => {
  let repo: string;

  beforeEach(async () => {
    repo = await mkdtemp(path.join(tmpdir(), 'model-repository-'));
  });

  afterEach(async () => {
    await rm(repo, { recursive: true, force: true });
  });

  /** Writes files (path relative to the repository -> contents) into the temporary repository. */
  async function layout(files: Record<string, string>): Promise<void> {
    for (const [relative, contents] of Object.entries(files)) {
      const file = path.join(repo, relative);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, contents);
    }
  }

  it('describes the shipped simple model', async () => {
    const models = await loadModelRepository(DEFAULT_REPOSITORY_DIR);

    const simple = models.find((m) => m.name === 'simple');
    expect(simple).toBeDefined();
    expect(simple).toMatchObject({
      platform: 'onnxruntime_onnx',
      directory: path.join(DEFAULT_REPOSITORY_DIR, 'simple'),
      versions: ['1'],
      latestVersion: '1',
      dynamicBatching: { preferredBatchSizes: [4, 8], maxQueueDelayMicroseconds: 100 },
    });
    expect(simple!.signature).toEqual(SIMPLE_SIGNATURE);
    expect(simple!.config.instanceGroup).toHaveLength(1);
    expect(modelFilePath(simple!, '1')).toBe(path.join(DEFAULT_REPOSITORY_DIR, 'simple', '1', 'model.onnx'));
  });

  it('ships ONNX models whose tensors agree with their config.pbtxt', async () => {
    // onnxruntime's tensor type names -> v2 datatypes.
    const ORT_DATATYPES: Record<string, string> = {
      bool: 'BOOL',
      uint8: 'UINT8',
      uint16: 'UINT16',
      uint32: 'UINT32',
      uint64: 'UINT64',
      int8: 'INT8',
      int16: 'INT16',
      int32: 'INT32',
      int64: 'INT64',
      float16: 'FP16',
      float32: 'FP32',
      float64: 'FP64',
      string: 'BYTES',
    };
    // A symbolic ONNX dimension takes whatever the config fixes it to, as Triton allows.
    const asSignature = (
      metadata: readonly ort.InferenceSession.ValueMetadata[],
      config: readonly TensorSignature[],
    ) =>
      metadata.map((m) => {
        const configShape = config.find((t) => t.name === m.name)?.shape ?? [];
        return {
          name: m.name,
          datatype: m.isTensor ? ORT_DATATYPES[m.type] : 'not a tensor',
          shape: m.isTensor
            ? m.shape.map((d, i) => (typeof d === 'string' ? (configShape[i] ?? -1) : d))
            : [],
        };
      });
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);

    const onnxModels = (await loadModelRepository(DEFAULT_REPOSITORY_DIR)).filter(
      (m) => m.platform === 'onnxruntime_onnx',
    );

    expect(onnxModels.length).toBeGreaterThan(0);
    for (const model of onnxModels) {
      for (const version of model.versions) {
        const session = await ort.InferenceSession.create(modelFilePath(model, version));
        try {
          const where = `${model.name} version ${version}`;
          expect(asSignature(session.inputMetadata, model.signature.inputs).sort(byName), where).toEqual(
            [...model.signature.inputs].sort(byName),
          );
          expect(asSignature(session.outputMetadata, model.signature.outputs).sort(byName), where).toEqual(
            [...model.signature.outputs].sort(byName),
          );
        } finally {
          await session.release();
        }
      }
    }
  });

  it('returns models sorted by name with numeric versions in numeric order', async () => {
    await layout({
      'b/config.pbtxt': config('b'),
      'b/2/model.onnx': '',
      'b/10/model.onnx': '',
      // Triton ignores version folders that are not numeric or that start with 0.
      'b/0/model.onnx': '',
      'b/010/model.onnx': '',
      'b/latest/model.onnx': '',
      'a/config.pbtxt': config('a'),
      'a/1/model.onnx': '',
    });

    const models = await loadModelRepository(repo);

    expect(models.map((m) => m.name)).toEqual(['a', 'b']);
    expect(models[1]).toMatchObject({ versions: ['2', '10'], latestVersion: '10' });
  });

  it('serves the highest existing version named by a specific version_policy', async () => {
    await layout({
      'm/config.pbtxt': config('m', 'version_policy { specific { versions: [ 1, 2, 7 ] } }'),
      'm/1/model.onnx': '',
      'm/2/model.onnx': '',
      'm/3/model.onnx': '',
    });

    const [model] = await loadModelRepository(repo);

    expect(model!.latestVersion).toBe('2');
  });

  it('leaves the batch dimension out of the shape when max_batch_size is 0', async () => {
    await layout({
      'm/config.pbtxt': config('m').replace('max_batch_size: 4', 'max_batch_size: 0'),
      'm/1/model.onnx': '',
    });

    const [model] = await loadModelRepository(repo);

    expect(model!.signature.inputs[0]!.shape).toEqual([3]);
    expect(model!.signature.maxBatchSize).toBe(0);
    expect(model!.dynamicBatching).toBeUndefined();
  });

  it('honours default_model_filename for the model file', async () => {
    await layout({
      'm/config.pbtxt': config('m', 'default_model_filename: "weights.onnx"'),
      'm/1/weights.onnx': '',
    });

    const [model] = await loadModelRepository(repo);

    expect(modelFilePath(model!, '1')).toBe(path.join(repo, 'm', '1', 'weights.onnx'));
  });

  it('throws naming the file when config.pbtxt has a syntax error', async () => {
    await layout({ 'm/config.pbtxt': 'name: "m"\ninput [ { name: "X" ', 'm/1/model.onnx': '' });

    await expect(loadModelRepository(repo)).rejects.toThrow(
      `${path.join(repo, 'm', 'config.pbtxt')}: unexpected end of input`,
    );
  });

  it('throws naming the file and the field when config.pbtxt has an unknown field', async () => {
    await layout({ 'm/config.pbtxt': config('m', 'max_batch: 8'), 'm/1/model.onnx': '' });

    await expect(loadModelRepository(repo)).rejects.toThrow(
      `${path.join(repo, 'm', 'config.pbtxt')}: unknown field "max_batch"`,
    );
  });

  it('throws when the config name does not match its folder', async () => {
    await layout({ 'm/config.pbtxt': config('other'), 'm/1/model.onnx': '' });

    await expect(loadModelRepository(repo)).rejects.toThrow('name "other" does not match its folder "m"');
  });

  it('throws when config.pbtxt sits at the repository root', async () => {
    await layout({ 'config.pbtxt': config('m'), '1/model.onnx': '' });

    await expect(loadModelRepository(repo)).rejects.toThrow('must sit in a model folder');
  });

  it('throws when a model folder has no config.pbtxt', async () => {
    await layout({ 'm/1/model.onnx': '' });

    await expect(loadModelRepository(repo)).rejects.toThrow(
      `${path.join(repo, 'm', 'config.pbtxt')} is missing`,
    );
  });

  it('throws when a model has no version folder', async () => {
    await layout({ 'm/config.pbtxt': config('m'), 'm/v1/model.onnx': '' });

    await expect(loadModelRepository(repo)).rejects.toThrow('has no numeric version folder');
  });

  it('throws when a version folder lacks the model file', async () => {
    await layout({ 'm/config.pbtxt': config('m'), 'm/1/model.onnx': '', 'm/2/other.bin': '' });

    await expect(loadModelRepository(repo)).rejects.toThrow(
      `${path.join(repo, 'm', '2', 'model.onnx')} is missing`,
    );
  });

  it('throws when a warm-up sample reads a file its warmup folder lacks or holds too short, as Triton fails the load', async () => {
    const warmup = `model_warmup [ { name: "s" batch_size: 1 inputs { key: "X" value: { data_type: TYPE_FP32 dims: [ 3 ] input_data_file: "x.bin" } } } ]`;
    await layout({ 'm/config.pbtxt': config('m', warmup), 'm/1/model.onnx': '' });
    await expect(loadModelRepository(repo)).rejects.toThrow(
      "model_warmup sample 's': input 'X' reads warmup/x.bin, which is not a file of m/warmup/",
    );

    // X: 3 FP32 elements, 12 bytes.
    await layout({ 'm/warmup/x.bin': 'x'.repeat(11) });
    await expect(loadModelRepository(repo)).rejects.toThrow("which holds 11 bytes; the input's dims take 12");
    await layout({ 'm/warmup/x.bin': 'x'.repeat(12) });
    await expect(loadModelRepository(repo)).resolves.toHaveLength(1);
  });

  it('throws when the repository has no model folder', async () => {
    await expect(loadModelRepository(repo)).rejects.toThrow('has no model folders');
  });

  it('rejects a BF16 tensor, which has no v2 datatype', async () => {
    await layout({
      'm/config.pbtxt': config('m').replace(
        'name: "X" data_type: TYPE_FP32',
        'name: "X" data_type: TYPE_BF16',
      ),
      'm/1/model.onnx': '',
    });

    await expect(loadModelRepository(repo)).rejects.toThrow(
      'tensor "X": data type TYPE_BF16 is not supported',
    );
  });

  it('rejects a preferred batch size above max_batch_size', async () => {
    await layout({
      'm/config.pbtxt': config('m', 'dynamic_batching { preferred_batch_size: [ 2, 16 ] }'),
      'm/1/model.onnx': '',
    });

    await expect(loadModelRepository(repo)).rejects.toThrow('preferred_batch_size 16 must be between 1 and');
  });
});

describe('toV2Datatype', () => {
  it.each([
    ['TYPE_BOOL', 'BOOL'],
    ['TYPE_UINT8', 'UINT8'],
    ['TYPE_UINT16', 'UINT16'],
    ['TYPE_UINT32', 'UINT32'],
    ['TYPE_UINT64', 'UINT64'],
    ['TYPE_INT8', 'INT8'],
    ['TYPE_INT16', 'INT16'],
    ['TYPE_INT32', 'INT32'],
    ['TYPE_INT64', 'INT64'],
    ['TYPE_FP16', 'FP16'],
    ['TYPE_FP32', 'FP32'],
    ['TYPE_FP64', 'FP64'],
    ['TYPE_STRING', 'BYTES'],
  ] as const)('maps %s to %s', (tritonType, datatype) => {
    expect(toV2Datatype(DataType[tritonType])).toBe(datatype);
  });

  it.each(['TYPE_BF16', 'TYPE_INVALID'] as const)('rejects %s', (tritonType) => {
    expect(() => toV2Datatype(DataType[tritonType])).toThrow(`data type ${tritonType} is not supported`);
  });
});
