import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadModelRepository,
  type ModelDefinition,
  modelFilePath,
} from '../../triton-image/model-repository';
import { buildModels, DEFAULT_REPOSITORY_DIR } from '../../triton-image/scripts/build-models';
import { simpleModel } from '../../triton-image/scripts/models/simple';

const BATCH = 2;
const WIDTH = 16;

describe('simple model', () => {
  let definition: ModelDefinition;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    const models = await loadModelRepository(DEFAULT_REPOSITORY_DIR);
    definition = models.find((m) => m.name === 'simple')!;
    session = await ort.InferenceSession.create(modelFilePath(definition, definition.latestVersion));
  });

  afterAll(async () => {
    await session?.release();
  });

  it('rebuilds byte for byte into the committed model.onnx and config.pbtxt', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'simple-model-'));
    try {
      await buildModels(out, [simpleModel]);

      for (const file of ['1/model.onnx', 'config.pbtxt']) {
        const rebuilt = await readFile(path.join(out, 'simple', file));
        const committed = await readFile(path.join(DEFAULT_REPOSITORY_DIR, 'simple', file));
        expect(rebuilt.equals(committed), `${file} differs from the committed file`).toBe(true);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('declares the tensors of config.pbtxt with its datatype and a symbolic batch dimension', () => {
    const describeTensor = (m: ort.InferenceSession.ValueMetadata) => ({
      name: m.name,
      datatype: m.isTensor ? m.type.toUpperCase() : 'not a tensor',
      shape: m.isTensor ? m.shape.map((d) => (typeof d === 'string' ? -1 : d)) : [],
    });

    expect(session.inputMetadata.map(describeTensor)).toEqual(definition.signature.inputs);
    expect(session.outputMetadata.map(describeTensor)).toEqual(definition.signature.outputs);
  });

  it('returns the element-wise sum as OUTPUT0 and difference as OUTPUT1 for a batch of two', async () => {
    const input0 = Int32Array.from({ length: BATCH * WIDTH }, (_, i) => i * 3 - 20);
    const input1 = Int32Array.from({ length: BATCH * WIDTH }, (_, i) => 7 - i);

    const results = await session.run({
      INPUT0: new ort.Tensor('int32', input0, [BATCH, WIDTH]),
      INPUT1: new ort.Tensor('int32', input1, [BATCH, WIDTH]),
    });

    expect(results.OUTPUT0!.dims).toEqual([BATCH, WIDTH]);
    expect(results.OUTPUT1!.dims).toEqual([BATCH, WIDTH]);
    expect(Array.from(results.OUTPUT0!.data as Int32Array)).toEqual(
      Array.from(input0, (a, i) => a + input1[i]!),
    );
    expect(Array.from(results.OUTPUT1!.data as Int32Array)).toEqual(
      Array.from(input0, (a, i) => a - input1[i]!),
    );
  });
});
