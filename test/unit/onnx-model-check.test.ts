import { describe, expect, it } from 'vitest';
import { TensorProto_DataType as T } from '../../contracts/triton/gen/onnx_pb';
import { checkModelArchive } from '../../contracts/triton/model-archive';
import { parseModelConfig } from '../../contracts/triton/model-config';
import { checkOnnxModel, readOnnxTensors } from '../../contracts/triton/onnx-model';
import { floatTensor, node, serializeOnnxModel, tensorValue } from '../../triton-image/scripts/onnx-graph';

/** A model Y = X + B: X [batch, 4] FP32, B an initializer that is also a graph input. */
function model(
  x: (number | string)[] = ['batch', 4],
  y: (number | string)[] = ['batch', 4],
  yType = T.FLOAT,
) {
  return serializeOnnxModel({
    graphName: 'g',
    inputs: [tensorValue('X', T.FLOAT, x), tensorValue('B', T.FLOAT, [4])],
    outputs: [tensorValue('Y', yType, y)],
    nodes: [node('Add', 'add', ['X', 'B'], ['Y'])],
    initializers: [floatTensor('B', [4], [1, 2, 3, 4])],
  });
}

const config = (body: string, maxBatchSize = 8) =>
  parseModelConfig(`name: "m"
platform: "onnxruntime_onnx"
max_batch_size: ${maxBatchSize}
${body}`);
const X = 'input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]';
const Y = 'output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]';

describe("the ONNX Runtime backend's load check", () => {
  it('reads inputs apart from initializers, which a request may override', () => {
    const tensors = readOnnxTensors(model());
    expect([...tensors.inputs.keys()]).toEqual(['X']);
    expect([...tensors.overridableInitializers.keys()]).toEqual(['B']);
    expect(tensors.inputs.get('X')).toEqual({ type: T.FLOAT, dims: [-1, 4] });
  });

  it('accepts a config that agrees, symbolic dims matching any input size', () => {
    expect(() => checkOnnxModel(config(`${X}\n${Y}`), readOnnxTensors(model()))).not.toThrow();
  });

  it('refuses each disagreement naming the tensor', () => {
    const check =
      (cfg: string, bytes = model(), maxBatchSize = 8) =>
      () =>
        checkOnnxModel(config(cfg, maxBatchSize), readOnnxTensors(bytes));
    expect(check(`input [ { name: "Z" data_type: TYPE_FP32 dims: [ 4 ] } ]\n${Y}`)).toThrow(
      "input 'Z' is not an input of the model, whose inputs are: X, B",
    );
    expect(check(`${X}\n${Y}`, model(undefined, undefined, T.DOUBLE))).toThrow(
      "output 'Y': the config declares TYPE_FP32, the model provides DOUBLE",
    );
    expect(check(`input [ { name: "X" data_type: TYPE_FP32 dims: [ 5 ] } ]\n${Y}`)).toThrow(
      "input 'X': the model's shape is [-1, 4], the config's is [-1, 5] (batch dimension included)",
    );
    // Outputs compare exactly: a symbolic model dimension does not match a fixed config one.
    expect(check(`${X}\n${Y}`, model(undefined, ['batch', 'n']))).toThrow(
      "output 'Y': the model's shape is [-1, -1], the config's is [-1, 4]",
    );
    expect(check(`${X}\n${Y}`, model([2, 4]))).toThrow(
      "input 'X': with max_batch_size > 0 the model's first dimension must be -1",
    );
    expect(
      check(
        `input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] }, { name: "W" data_type: TYPE_FP32 dims: [ 4 ] } ]\n${Y}`,
      ),
    ).toThrow('the config expects 2 inputs, the model provides 1');
  });

  it('compares a reshape instead of the dims', () => {
    const reshaped = config(
      'input [ { name: "X" data_type: TYPE_FP32 dims: [ 2, 2 ] reshape: { shape: [ 4 ] } } ]\n' +
        'output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]',
    );
    expect(() => checkOnnxModel(reshaped, readOnnxTensors(model()))).not.toThrow();
  });

  it('refuses bytes that are not an ONNX model', () => {
    expect(() => readOnnxTensors(new Uint8Array([0xff, 0xff, 0xff]))).toThrow('not an ONNX model');
  });
});

describe('the archive layout check', () => {
  const text = (s: string) => new TextEncoder().encode(s);
  const cfg = text(`name: "m"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n${X}\n${Y}\n`);

  it('derives the signature and the served version', () => {
    const checked = checkModelArchive([
      { path: 'm', type: 'directory' },
      { path: 'm/config.pbtxt', type: 'file', data: cfg },
      { path: 'm/1/model.onnx', type: 'file', data: model() },
      { path: 'm/3/model.onnx', type: 'file', data: model() },
    ]);
    expect(checked).toMatchObject({ folder: 'm', servedVersion: '3', versions: ['1', '3'] });
    expect(checked.signature.inputs).toEqual([{ name: 'X', datatype: 'FP32', shape: [-1, 4] }]);
  });

  it('refuses a root config, a missing config, no version folder and a missing model file', () => {
    expect(() => checkModelArchive([{ path: 'config.pbtxt', type: 'file', data: cfg }])).toThrow(
      'must sit in a model folder',
    );
    expect(() => checkModelArchive([{ path: 'm/1/model.onnx', type: 'file', data: model() }])).toThrow(
      'm/config.pbtxt is missing',
    );
    expect(() => checkModelArchive([{ path: 'm/config.pbtxt', type: 'file', data: cfg }])).toThrow(
      'has no numeric version folder',
    );
    expect(() =>
      checkModelArchive([
        { path: 'm/config.pbtxt', type: 'file', data: cfg },
        { path: 'm/1', type: 'directory' },
      ]),
    ).toThrow('m/1/model.onnx is missing');
    expect(() =>
      checkModelArchive([{ path: 'm/config.pbtxt', type: 'file', data: text('name: "m"\nbogus: 1\n') }]),
    ).toThrow('m/config.pbtxt:');
  });
});
