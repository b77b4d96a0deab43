/**
 * The dynamic batching bench model: a multilayer perceptron of about a million FP32 parameters
 * (512 -> 1024 -> 512 -> 10, ReLU between layers) with deterministic pseudo-random weights, written
 * as two Triton model repositories that differ only in `dynamic_batching`.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { TensorProto_DataType } from '../contracts/triton/gen/onnx_pb';
import { floatTensor, node, serializeOnnxModel, tensorValue } from '../triton-image/scripts/onnx-graph';

export const BENCH_MODEL_NAME = 'mlp';
export const BENCH_INPUT = 'INPUT';
export const BENCH_OUTPUT = 'OUTPUT';
export const BENCH_LAYERS = [512, 1024, 512, 10] as const;
export const BENCH_MAX_BATCH_SIZE = 16;
export const BENCH_QUEUE_DELAY_MICROSECONDS = 2000;
const SEED = 0xbe4c;

/** mulberry32: weights depend only on the seed, so every run benches the same model. */
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

/** The ONNX model and its parameter count. */
export function buildBenchModel(): { onnx: Uint8Array; parameters: number } {
  const random = seededRandom(SEED);
  const initializers = [];
  const nodes = [];
  let parameters = 0;
  let previous: string = BENCH_INPUT;
  for (let layer = 0; layer < BENCH_LAYERS.length - 1; layer++) {
    const fanIn = BENCH_LAYERS[layer]!;
    const fanOut = BENCH_LAYERS[layer + 1]!;
    const last = layer === BENCH_LAYERS.length - 2;
    // He-uniform initialisation keeps activations in range through the ReLUs.
    const bound = Math.sqrt(6 / fanIn);
    const weight = Float32Array.from({ length: fanIn * fanOut }, () => (2 * random() - 1) * bound);
    const bias = Float32Array.from({ length: fanOut }, () => (2 * random() - 1) * 0.01);
    parameters += weight.length + bias.length;
    initializers.push(
      floatTensor(`w${layer}`, [fanIn, fanOut], weight),
      floatTensor(`b${layer}`, [fanOut], bias),
    );
    const sum = last ? BENCH_OUTPUT : `z${layer}`;
    nodes.push(
      node('MatMul', `matmul${layer}`, [previous, `w${layer}`], [`m${layer}`]),
      node('Add', `add${layer}`, [`m${layer}`, `b${layer}`], [sum]),
    );
    if (!last) {
      nodes.push(node('Relu', `relu${layer}`, [sum], [`h${layer}`]));
      previous = `h${layer}`;
    }
  }
  const onnx = serializeOnnxModel({
    graphName: BENCH_MODEL_NAME,
    docString: `bench MLP ${BENCH_LAYERS.join('-')}`,
    inputs: [tensorValue(BENCH_INPUT, TensorProto_DataType.FLOAT, ['batch', BENCH_LAYERS[0]])],
    outputs: [tensorValue(BENCH_OUTPUT, TensorProto_DataType.FLOAT, ['batch', BENCH_LAYERS.at(-1)!])],
    nodes,
    initializers,
  });
  return { onnx, parameters };
}

function config(dynamicBatching: boolean): string {
  return `name: "${BENCH_MODEL_NAME}"
platform: "onnxruntime_onnx"
max_batch_size: ${BENCH_MAX_BATCH_SIZE}
input [ { name: "${BENCH_INPUT}" data_type: TYPE_FP32 dims: [ ${BENCH_LAYERS[0]} ] } ]
output [ { name: "${BENCH_OUTPUT}" data_type: TYPE_FP32 dims: [ ${BENCH_LAYERS.at(-1)} ] } ]
${dynamicBatching ? `dynamic_batching { max_queue_delay_microseconds: ${BENCH_QUEUE_DELAY_MICROSECONDS} }\n` : ''}instance_group [ { count: 1 kind: KIND_CPU } ]
`;
}

/**
 * Writes `<dir>/batched/mlp` (with dynamic_batching) and `<dir>/unbatched/mlp` (without), each with
 * `config.pbtxt` and `1/model.onnx`, and returns the two repository folders.
 */
export async function writeBenchRepositories(
  dir: string,
): Promise<{ batched: string; unbatched: string; parameters: number }> {
  const { onnx, parameters } = buildBenchModel();
  const repositories = { batched: path.join(dir, 'batched'), unbatched: path.join(dir, 'unbatched') };
  for (const [kind, repository] of Object.entries(repositories)) {
    const modelDir = path.join(repository, BENCH_MODEL_NAME);
    await rm(modelDir, { recursive: true, force: true });
    await mkdir(path.join(modelDir, '1'), { recursive: true });
    await writeFile(path.join(modelDir, 'config.pbtxt'), config(kind === 'batched'));
    await writeFile(path.join(modelDir, '1', 'model.onnx'), onnx);
  }
  return { ...repositories, parameters };
}
