/**
 * An Iris species classifier: a 4-16-3 multilayer perceptron trained here, in plain TypeScript, on
 * Fisher's Iris data set (`scripts/data/iris.csv`, see `scripts/data/README.md` for its source).
 *
 * Everything that could vary between runs is fixed: the split and the initial weights come from a
 * seeded generator and training is full-batch, so the same Node.js builds the same model.onnx.
 */
import { readFileSync } from 'node:fs';
import { TensorProto_DataType } from '../../../contracts/triton/gen/onnx_pb';
import type { ModelBuilder } from '../build-models';
import { floatTensor, intAttribute, node, serializeOnnxModel, tensorValue } from '../onnx-graph';

const NAME = 'iris';
/** Class index -> species; LABEL and the columns of PROBABILITIES use this order. */
export const IRIS_CLASSES = ['setosa', 'versicolor', 'virginica'] as const;
export const IRIS_FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] as const;
const LABELS_FILE = 'labels.txt';

const MAX_BATCH_SIZE = 1024;
const HIDDEN = 16;
const TEST_ROWS_PER_CLASS = 10;
const SPLIT_SEED = 0x1a15;
const INIT_SEED = 0x5eed;
const EPOCHS = 1000;
const LEARNING_RATE = 0.01;

const FEATURE_COUNT = IRIS_FEATURES.length;
const CLASS_COUNT = IRIS_CLASSES.length;

export interface IrisRow {
  /** Sepal length, sepal width, petal length, petal width, in centimetres. */
  readonly features: readonly number[];
  /** Index into IRIS_CLASSES. */
  readonly label: number;
}

export const IRIS_CSV = new URL('../data/iris.csv', import.meta.url);

/** Parses the shipped CSV, refusing anything but four positive measurements and a known species. */
export function parseIrisCsv(text: string): IrisRow[] {
  const [header, ...lines] = text.trimEnd().split('\n');
  const expectedHeader = [...IRIS_FEATURES, 'species'].join(',');
  if (header !== expectedHeader) {
    throw new Error(`iris.csv: header must be "${expectedHeader}", got "${header}"`);
  }
  return lines.map((line, i) => {
    const cells = line.split(',');
    const species = cells.pop() ?? '';
    const label = (IRIS_CLASSES as readonly string[]).indexOf(species);
    const features = cells.map(Number);
    if (label < 0 || features.length !== FEATURE_COUNT || !features.every((x) => x > 0 && x < 100)) {
      throw new Error(`iris.csv line ${i + 2}: "${line}" is not four measurements and a species`);
    }
    return { features, label };
  });
}

/** mulberry32: a small, well-mixed 32-bit generator, so split and weights depend only on a seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Stratified split: the same number of held-out rows from each species, chosen by a seeded shuffle. */
export function splitIris(rows: readonly IrisRow[]): { train: IrisRow[]; test: IrisRow[] } {
  const random = seededRandom(SPLIT_SEED);
  const train: IrisRow[] = [];
  const test: IrisRow[] = [];
  for (let label = 0; label < CLASS_COUNT; label++) {
    const ofClass = shuffled(
      rows.filter((r) => r.label === label),
      random,
    );
    test.push(...ofClass.slice(0, TEST_ROWS_PER_CLASS));
    train.push(...ofClass.slice(TEST_ROWS_PER_CLASS));
  }
  return { train, test };
}

export const IRIS_ROWS: readonly IrisRow[] = parseIrisCsv(readFileSync(IRIS_CSV, 'utf8'));
const SPLIT = splitIris(IRIS_ROWS);
export const IRIS_TRAIN_SET: readonly IrisRow[] = SPLIT.train;
/** Rows the model never sees in training; its reported test accuracy is measured on these. */
export const IRIS_TEST_SET: readonly IrisRow[] = SPLIT.test;

/** Matrices are row-major [in, out]. */
interface Layers {
  readonly hiddenWeight: readonly number[];
  readonly hiddenBias: readonly number[];
  readonly outputWeight: readonly number[];
  readonly outputBias: readonly number[];
}

/** Weights as exported, float32 values. */
export interface IrisWeights extends Layers {
  readonly featureMean: readonly number[];
  readonly featureScale: readonly number[];
}

/** The network on one standardised row: pre-activations, hidden activations and logits. */
function forward(w: Layers, x: readonly number[]) {
  const pre = Array.from({ length: HIDDEN }, (_, j) => {
    let sum = w.hiddenBias[j]!;
    for (let k = 0; k < FEATURE_COUNT; k++) sum += x[k]! * w.hiddenWeight[k * HIDDEN + j]!;
    return sum;
  });
  const hidden = pre.map((v) => Math.max(0, v));
  const logits = Array.from({ length: CLASS_COUNT }, (_, c) => {
    let sum = w.outputBias[c]!;
    for (let j = 0; j < HIDDEN; j++) sum += hidden[j]! * w.outputWeight[j * CLASS_COUNT + c]!;
    return sum;
  });
  return { pre, hidden, logits };
}

/** Class probabilities for one row of raw measurements, computed as the exported graph does. */
export function predictProbabilities(w: IrisWeights, features: readonly number[]): number[] {
  const x = features.map((v, k) => (v - w.featureMean[k]!) / w.featureScale[k]!);
  return softmax(forward(w, x).logits);
}

function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/** Index of the largest value; the first one on a tie, as ONNX ArgMax does. */
export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

export interface Accuracy {
  readonly correct: number;
  readonly total: number;
  readonly accuracy: number;
}

export function accuracyOf(w: IrisWeights, rows: readonly IrisRow[]): Accuracy {
  const correct = rows.filter((r) => argmax(predictProbabilities(w, r.features)) === r.label).length;
  return { correct, total: rows.length, accuracy: correct / rows.length };
}

const f32 = (values: readonly number[]) => Array.from(Float32Array.from(values));

/**
 * Trains the network with softmax cross-entropy and Adam on the whole training set per step.
 * Standardisation is fitted on the training rows only and becomes part of the model, so clients
 * send raw centimetres.
 */
export function trainIrisClassifier(train: readonly IrisRow[]): IrisWeights {
  const n = train.length;
  const featureMean = f32(
    Array.from({ length: FEATURE_COUNT }, (_, k) => train.reduce((s, r) => s + r.features[k]!, 0) / n),
  );
  const featureScale = f32(
    Array.from({ length: FEATURE_COUNT }, (_, k) =>
      Math.sqrt(train.reduce((s, r) => s + (r.features[k]! - featureMean[k]!) ** 2, 0) / n),
    ),
  );
  const xs = train.map((r) => r.features.map((v, k) => (v - featureMean[k]!) / featureScale[k]!));

  const random = seededRandom(INIT_SEED);
  const uniform = (limit: number) => (random() * 2 - 1) * limit;
  // He initialisation for the ReLU layer, Glorot for the softmax layer.
  const params = {
    hiddenWeight: Array.from({ length: FEATURE_COUNT * HIDDEN }, () => uniform(Math.sqrt(6 / FEATURE_COUNT))),
    hiddenBias: new Array<number>(HIDDEN).fill(0),
    outputWeight: Array.from({ length: HIDDEN * CLASS_COUNT }, () =>
      uniform(Math.sqrt(6 / (HIDDEN + CLASS_COUNT))),
    ),
    outputBias: new Array<number>(CLASS_COUNT).fill(0),
  };
  type Param = keyof typeof params;
  const names = Object.keys(params) as Param[];
  const zeros = () =>
    Object.fromEntries(names.map((p) => [p, params[p].map(() => 0)])) as Record<Param, number[]>;
  const moment1 = zeros();
  const moment2 = zeros();
  const [beta1, beta2, epsilon] = [0.9, 0.999, 1e-8];

  for (let step = 1; step <= EPOCHS; step++) {
    const grad = zeros();
    for (let i = 0; i < n; i++) {
      const x = xs[i]!;
      const { pre, hidden, logits } = forward(params, x);
      // d(mean cross-entropy)/d(logits) = (softmax - one-hot) / n
      const dLogits = softmax(logits).map((p, c) => (p - (c === train[i]!.label ? 1 : 0)) / n);
      const dHidden = new Array<number>(HIDDEN).fill(0);
      for (let j = 0; j < HIDDEN; j++) {
        for (let c = 0; c < CLASS_COUNT; c++) {
          grad.outputWeight[j * CLASS_COUNT + c]! += hidden[j]! * dLogits[c]!;
          dHidden[j]! += params.outputWeight[j * CLASS_COUNT + c]! * dLogits[c]!;
        }
      }
      for (let c = 0; c < CLASS_COUNT; c++) grad.outputBias[c]! += dLogits[c]!;
      for (let j = 0; j < HIDDEN; j++) {
        if (pre[j]! <= 0) continue;
        grad.hiddenBias[j]! += dHidden[j]!;
        for (let k = 0; k < FEATURE_COUNT; k++) grad.hiddenWeight[k * HIDDEN + j]! += x[k]! * dHidden[j]!;
      }
    }
    const correction1 = 1 - beta1 ** step;
    const correction2 = 1 - beta2 ** step;
    for (const p of names) {
      const values = params[p];
      for (let i = 0; i < values.length; i++) {
        const g = grad[p][i]!;
        moment1[p][i] = beta1 * moment1[p][i]! + (1 - beta1) * g;
        moment2[p][i] = beta2 * moment2[p][i]! + (1 - beta2) * g * g;
        values[i]! -=
          (LEARNING_RATE * (moment1[p][i]! / correction1)) /
          (Math.sqrt(moment2[p][i]! / correction2) + epsilon);
      }
    }
  }

  return {
    featureMean,
    featureScale,
    hiddenWeight: f32(params.hiddenWeight),
    hiddenBias: f32(params.hiddenBias),
    outputWeight: f32(params.outputWeight),
    outputBias: f32(params.outputBias),
  };
}

function exportOnnx(w: IrisWeights): Uint8Array {
  return serializeOnnxModel({
    graphName: NAME,
    docString:
      'Iris species from sepal and petal length and width in cm; class order setosa, versicolor, virginica',
    inputs: [tensorValue('FEATURES', TensorProto_DataType.FLOAT, ['batch', FEATURE_COUNT])],
    outputs: [
      tensorValue('PROBABILITIES', TensorProto_DataType.FLOAT, ['batch', CLASS_COUNT]),
      tensorValue('LABEL', TensorProto_DataType.INT64, ['batch', 1]),
    ],
    initializers: [
      floatTensor('feature_mean', [FEATURE_COUNT], w.featureMean),
      floatTensor('feature_scale', [FEATURE_COUNT], w.featureScale),
      floatTensor('hidden_weight', [FEATURE_COUNT, HIDDEN], w.hiddenWeight),
      floatTensor('hidden_bias', [HIDDEN], w.hiddenBias),
      floatTensor('output_weight', [HIDDEN, CLASS_COUNT], w.outputWeight),
      floatTensor('output_bias', [CLASS_COUNT], w.outputBias),
    ],
    nodes: [
      node('Sub', 'centre', ['FEATURES', 'feature_mean'], ['centred']),
      node('Div', 'scale', ['centred', 'feature_scale'], ['standardized']),
      node('Gemm', 'hidden_layer', ['standardized', 'hidden_weight', 'hidden_bias'], ['hidden_linear']),
      node('Relu', 'hidden_activation', ['hidden_linear'], ['hidden']),
      node('Gemm', 'output_layer', ['hidden', 'output_weight', 'output_bias'], ['logits']),
      node('Softmax', 'probabilities', ['logits'], ['PROBABILITIES'], [intAttribute('axis', 1)]),
      // ArgMax of the probabilities rather than the logits, so LABEL always names their largest entry.
      node(
        'ArgMax',
        'label',
        ['PROBABILITIES'],
        ['LABEL'],
        [intAttribute('axis', 1), intAttribute('keepdims', 1)],
      ),
    ],
  });
}

// Triton's onnxruntime backend requires dim 0 of every tensor to be variable when max_batch_size > 0.
const CONFIG = `# Written by triton-image/scripts/build-models.ts: change the builder in scripts/models/iris.ts and re-run it.
# Iris species from raw measurements in cm (sepal length, sepal width, petal length, petal width).
# Class index: 0 setosa, 1 versicolor, 2 virginica (${LABELS_FILE}, which Triton's classification
# extension reads to name the classes).
name: "${NAME}"
platform: "onnxruntime_onnx"
# A row is 16 bytes in and 20 out, and a batch costs the GPU a handful of kernel launches whatever its
# size, so the limit is what a batch job chunk may send in one request, not GPU memory.
max_batch_size: ${MAX_BATCH_SIZE}
input [
  {
    name: "FEATURES"
    data_type: TYPE_FP32
    dims: [ ${FEATURE_COUNT} ]
  }
]
output [
  {
    name: "PROBABILITIES"
    data_type: TYPE_FP32
    dims: [ ${CLASS_COUNT} ]
    label_filename: "${LABELS_FILE}"
  },
  {
    name: "LABEL"
    data_type: TYPE_INT64
    dims: [ 1 ]
  }
]
# Realtime callers send a row or a few: holding a batch open for up to 200 us, a small share of an
# InvokeEndpoint round trip, lets concurrent requests share one execution. A batch-job chunk of 256
# or ${MAX_BATCH_SIZE} rows is a preferred size, so Triton runs it at once instead of waiting.
dynamic_batching {
  preferred_batch_size: [ 256, ${MAX_BATCH_SIZE} ]
  max_queue_delay_microseconds: 200
}
instance_group [
  {
    count: 1
    kind: KIND_GPU
  }
]
`;

export const irisModel: ModelBuilder = {
  name: NAME,
  build() {
    const weights = trainIrisClassifier(IRIS_TRAIN_SET);
    const format = (name: string, a: Accuracy) =>
      `${name} accuracy ${a.accuracy.toFixed(3)} (${a.correct}/${a.total})`;
    console.log(
      `${NAME}: ${format('train', accuracyOf(weights, IRIS_TRAIN_SET))}, ${format('test', accuracyOf(weights, IRIS_TEST_SET))}`,
    );
    return {
      config: CONFIG,
      files: {
        [LABELS_FILE]: new TextEncoder().encode(`${IRIS_CLASSES.join('\n')}\n`),
        '1/model.onnx': exportOnnx(weights),
      },
    };
  },
};
