import { TensorProto_DataType } from '../../../contracts/triton/gen/onnx_pb';
import type { ModelBuilder } from '../build-models';
import { node, serializeOnnxModel, tensorValue } from '../onnx-graph';

const NAME = 'simple';
const WIDTH = 16;
const MAX_BATCH_SIZE = 8;
const INPUTS = ['INPUT0', 'INPUT1'] as const;
const OUTPUTS = ['OUTPUT0', 'OUTPUT1'] as const;

function tensorConfig(name: string): string {
  return `  {
    name: "${name}"
    data_type: TYPE_INT32
    dims: [ ${WIDTH} ]
  }`;
}

// Triton's onnxruntime backend requires dim 0 of every tensor to be variable when max_batch_size > 0.
const CONFIG = `# Written by triton-image/scripts/build-models.ts: change the builder in scripts/models/simple.ts and re-run it.
name: "${NAME}"
platform: "onnxruntime_onnx"
max_batch_size: ${MAX_BATCH_SIZE}
input [
${INPUTS.map(tensorConfig).join(',\n')}
]
output [
${OUTPUTS.map(tensorConfig).join(',\n')}
]
dynamic_batching {
  preferred_batch_size: [ 4, ${MAX_BATCH_SIZE} ]
  max_queue_delay_microseconds: 100
}
instance_group [
  {
    count: 1
    kind: KIND_GPU
  }
]
`;

/**
 * Triton's classic add/sub example model: OUTPUT0 = INPUT0 + INPUT1 and OUTPUT1 = INPUT0 - INPUT1,
 * element-wise over INT32 rows of 16, with a symbolic batch dimension.
 */
export const simpleModel: ModelBuilder = {
  name: NAME,
  build() {
    const batched = (name: string) => tensorValue(name, TensorProto_DataType.INT32, ['batch', WIDTH]);
    const model = serializeOnnxModel({
      graphName: NAME,
      docString: 'OUTPUT0 = INPUT0 + INPUT1; OUTPUT1 = INPUT0 - INPUT1',
      inputs: INPUTS.map(batched),
      outputs: OUTPUTS.map(batched),
      nodes: [node('Add', 'add', INPUTS, [OUTPUTS[0]]), node('Sub', 'sub', INPUTS, [OUTPUTS[1]])],
    });
    return { config: CONFIG, files: { '1/model.onnx': model } };
  },
};
