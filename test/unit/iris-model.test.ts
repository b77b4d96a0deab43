import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelInstanceGroup_Kind } from '../../contracts/triton/gen/model_config_pb';
import {
  loadModelRepository,
  type ModelDefinition,
  modelFilePath,
} from '../../triton-image/model-repository';
import { buildModels, DEFAULT_REPOSITORY_DIR } from '../../triton-image/scripts/build-models';
import {
  accuracyOf,
  IRIS_CLASSES,
  IRIS_ROWS,
  IRIS_TEST_SET,
  IRIS_TRAIN_SET,
  irisModel,
  parseIrisCsv,
  trainIrisClassifier,
} from '../../triton-image/scripts/models/iris';

// A model that guesses or always answers one class scores about 1/3 on three balanced classes.
const ACCURACY_FLOOR = 0.9;

const featuresTensor = (rows: readonly { features: readonly number[] }[]) =>
  new ort.Tensor('float32', Float32Array.from(rows.flatMap((r) => r.features)), [rows.length, 4]);

describe('iris data set', () => {
  it('has 50 rows of each species', () => {
    expect(IRIS_ROWS).toHaveLength(150);
    expect(IRIS_CLASSES.map((_, label) => IRIS_ROWS.filter((r) => r.label === label).length)).toEqual([
      50, 50, 50,
    ]);
  });

  it('matches the published per-species means and standard deviations', () => {
    // Fisher (1936), as R's summary of `iris` gives them: a mistyped value shifts at least one.
    const published = {
      setosa: { mean: [5.006, 3.428, 1.462, 0.246], sd: [0.352, 0.379, 0.174, 0.105] },
      versicolor: { mean: [5.936, 2.77, 4.26, 1.326], sd: [0.516, 0.314, 0.47, 0.198] },
      virginica: { mean: [6.588, 2.974, 5.552, 2.026], sd: [0.636, 0.322, 0.552, 0.275] },
    };
    const round3 = (x: number) => Math.round(x * 1000) / 1000;

    for (const [label, species] of IRIS_CLASSES.entries()) {
      const rows = IRIS_ROWS.filter((r) => r.label === label);
      const mean = [0, 1, 2, 3].map((k) => rows.reduce((s, r) => s + r.features[k]!, 0) / rows.length);
      const sd = [0, 1, 2, 3].map((k) =>
        Math.sqrt(rows.reduce((s, r) => s + (r.features[k]! - mean[k]!) ** 2, 0) / (rows.length - 1)),
      );
      expect({ mean: mean.map(round3), sd: sd.map(round3) }, species).toEqual(published[species]);
    }
  });

  it('holds out 10 rows of each species that are not in the training set', () => {
    const key = (r: (typeof IRIS_ROWS)[number]) => IRIS_ROWS.indexOf(r);

    expect(IRIS_CLASSES.map((_, label) => IRIS_TEST_SET.filter((r) => r.label === label).length)).toEqual([
      10, 10, 10,
    ]);
    expect(IRIS_TRAIN_SET).toHaveLength(120);
    const train = new Set(IRIS_TRAIN_SET.map(key));
    expect(IRIS_TEST_SET.map(key).filter((i) => train.has(i))).toEqual([]);
  });

  it('rejects a row with an unknown species or a missing measurement', () => {
    const header = 'sepal_length,sepal_width,petal_length,petal_width,species';

    expect(() => parseIrisCsv(`${header}\n5.1,3.5,1.4,0.2,rosa\n`)).toThrow('iris.csv line 2');
    expect(() => parseIrisCsv(`${header}\n5.1,3.5,,0.2,setosa\n`)).toThrow('iris.csv line 2');
    expect(() => parseIrisCsv('a,b,c,d,e\n')).toThrow('header must be');
  });
});

describe('iris model', () => {
  let definition: ModelDefinition;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    const models = await loadModelRepository(DEFAULT_REPOSITORY_DIR);
    definition = models.find((m) => m.name === 'iris')!;
    session = await ort.InferenceSession.create(modelFilePath(definition, definition.latestVersion));
  });

  afterAll(async () => {
    await session?.release();
  });

  async function predict(rows: readonly { features: readonly number[] }[]) {
    const results = await session.run({ FEATURES: featuresTensor(rows) });
    return {
      probabilities: results.PROBABILITIES!,
      labels: Array.from(results.LABEL!.data as BigInt64Array, Number),
      labelDims: results.LABEL!.dims,
    };
  }

  it('rebuilds byte for byte into the committed model folder', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'iris-model-'));
    try {
      await buildModels(out, [irisModel]);

      for (const file of ['1/model.onnx', 'config.pbtxt', 'labels.txt']) {
        const rebuilt = await readFile(path.join(out, 'iris', file));
        const committed = await readFile(path.join(DEFAULT_REPOSITORY_DIR, 'iris', file));
        expect(rebuilt.equals(committed), `${file} differs from the committed file`).toBe(true);
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('classifies the held-out rows with at least 90 % accuracy', async () => {
    const { labels } = await predict(IRIS_TEST_SET);

    const correct = labels.filter((label, i) => label === IRIS_TEST_SET[i]!.label).length;
    expect(correct / IRIS_TEST_SET.length).toBeGreaterThanOrEqual(ACCURACY_FLOOR);
  });

  it('scores the held-out rows exactly as the build script reports', async () => {
    const { labels } = await predict(IRIS_TEST_SET);
    const reported = accuracyOf(trainIrisClassifier(IRIS_TRAIN_SET), IRIS_TEST_SET);

    expect(labels.filter((label, i) => label === IRIS_TEST_SET[i]!.label).length).toBe(reported.correct);
  });

  it('returns probabilities that sum to 1 per row and a LABEL of their argmax', async () => {
    const { probabilities, labels, labelDims } = await predict(IRIS_ROWS);
    const p = probabilities.data as Float32Array;

    expect(probabilities.dims).toEqual([IRIS_ROWS.length, 3]);
    expect(labelDims).toEqual([IRIS_ROWS.length, 1]);
    for (let row = 0; row < IRIS_ROWS.length; row++) {
      const rowP = Array.from(p.subarray(row * 3, row * 3 + 3));
      expect(rowP.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(rowP.every((x) => x >= 0 && x <= 1)).toBe(true);
      expect(labels[row]).toBe(rowP.indexOf(Math.max(...rowP)));
    }
  });

  it('standardises raw centimetres inside the graph, so a textbook flower of each species is recognised', async () => {
    // Each species' mean flower: if the graph expected pre-scaled inputs these would all land in one class.
    const means = IRIS_CLASSES.map((_, label) => {
      const rows = IRIS_ROWS.filter((r) => r.label === label);
      return {
        features: [0, 1, 2, 3].map((k) => rows.reduce((s, r) => s + r.features[k]!, 0) / rows.length),
      };
    });

    expect((await predict(means)).labels).toEqual([0, 1, 2]);
  });

  it('names its classes in labels.txt in class index order, as config.pbtxt points Triton to', async () => {
    const labels = await readFile(path.join(definition.directory, 'labels.txt'), 'utf8');

    expect(labels.split('\n').filter(Boolean)).toEqual([...IRIS_CLASSES]);
    expect(definition.config.output.find((o) => o.name === 'PROBABILITIES')?.labelFilename).toBe(
      'labels.txt',
    );
  });

  it('batches dynamically on one GPU instance', () => {
    expect(definition.signature.maxBatchSize).toBe(1024);
    expect(definition.dynamicBatching).toEqual({
      preferredBatchSizes: [256, 1024],
      maxQueueDelayMicroseconds: 200,
    });
    expect(definition.config.instanceGroup.map((g) => [g.kind, g.count])).toEqual([
      [ModelInstanceGroup_Kind.GPU, 1],
    ]);
  });
});
