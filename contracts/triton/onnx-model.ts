/**
 * The check Triton's ONNX Runtime backend makes when it loads a model: each tensor of
 * `config.pbtxt` must be one the model has, with the same element type and a shape that agrees.
 * The rules follow `ValidateInputs`/`ValidateOutputs` in `src/onnxruntime.cc` and
 * `CompareDimsSupported` in `src/onnxruntime_utils.cc` of
 * github.com/triton-inference-server/onnxruntime_backend; sources in docs/shipping-models.md.
 */

import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { DataType, type ModelConfig, type ModelInput, type ModelOutput } from './gen/model_config_pb';
import { TensorProto_DataType as OnnxType, type ValueInfoProto, ValueInfoProtoSchema } from './gen/onnx_pb';
import { ModelConfigError } from './model-config';

/** One tensor of an ONNX graph: its element type and shape, -1 where a dimension is symbolic or unknown. */
export interface OnnxTensor {
  readonly type: OnnxType;
  /** Undefined when the graph states no shape, which Triton does not compare. */
  readonly dims?: readonly number[];
}

export interface OnnxGraphTensors {
  /** The inputs a request must feed: graph inputs that no initializer provides. */
  readonly inputs: ReadonlyMap<string, OnnxTensor>;
  /** Graph inputs with an initializer: ONNX Runtime lets a request override them. */
  readonly overridableInitializers: ReadonlyMap<string, OnnxTensor>;
  readonly outputs: ReadonlyMap<string, OnnxTensor>;
}

// Field numbers of onnx.proto (ModelProto.graph, GraphProto's lists, TensorProto.name,
// SparseTensorProto.values), read directly so that the weights are skipped, not decoded.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_SPARSE_INITIALIZER = 15;
const TENSOR_NAME = 8;
const SPARSE_TENSOR_VALUES = 1;

/** Reads the graph's inputs and outputs from the bytes of a `model.onnx`. */
export function readOnnxTensors(model: Uint8Array): OnnxGraphTensors {
  let graph: Uint8Array | undefined;
  try {
    graph = lengthDelimitedField(model, MODEL_GRAPH);
    if (graph === undefined) throw new Error('it has no graph');
    const inputs: ValueInfoProto[] = [];
    const outputs: ValueInfoProto[] = [];
    const initializers = new Set<string>();
    const reader = new BinaryReader(graph);
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (wireType !== WireType.LengthDelimited) {
        reader.skip(wireType, field);
        continue;
      }
      const bytes = reader.bytes();
      if (field === GRAPH_INPUT) inputs.push(fromBinary(ValueInfoProtoSchema, bytes));
      else if (field === GRAPH_OUTPUT) outputs.push(fromBinary(ValueInfoProtoSchema, bytes));
      else if (field === GRAPH_INITIALIZER) initializers.add(tensorName(bytes));
      else if (field === GRAPH_SPARSE_INITIALIZER) {
        const values = lengthDelimitedField(bytes, SPARSE_TENSOR_VALUES);
        if (values) initializers.add(tensorName(values));
      }
    }
    const byName = (list: ValueInfoProto[]) => new Map(list.map((v) => [v.name, onnxTensor(v)]));
    return {
      inputs: byName(inputs.filter((i) => !initializers.has(i.name))),
      overridableInitializers: byName(inputs.filter((i) => initializers.has(i.name))),
      outputs: byName(outputs),
    };
  } catch (error) {
    throw new ModelConfigError(`the model file is not an ONNX model: ${(error as Error).message}`);
  }
}

/**
 * Checks the config's tensors against the model's, as the ONNX Runtime backend does at load;
 * the error names the tensor.
 */
export function checkOnnxModel(config: ModelConfig, model: OnnxGraphTensors): void {
  const fail = (message: string): never => {
    throw new ModelConfigError(message);
  };
  const expected = config.input.filter((i) => !i.optional).length;
  if (model.inputs.size !== expected) {
    fail(`the config expects ${expected} inputs, the model provides ${model.inputs.size}`);
  }
  const inputs = new Map([...model.inputs, ...model.overridableInitializers]);
  for (const io of config.input) {
    if (io.optional && config.maxBatchSize !== 0) {
      fail(`optional input '${io.name}' is not supported for models that support batching`);
    }
    const tensor =
      inputs.get(io.name) ??
      fail(
        `input '${io.name}' is not an input of the model, whose inputs are: ${[...inputs.keys()].join(', ')}`,
      );
    compareTensor('input', io, tensor, config.maxBatchSize, false);
  }
  for (const io of config.output) {
    const tensor =
      model.outputs.get(io.name) ??
      fail(
        `output '${io.name}' is not an output of the model, whose outputs are: ${[...model.outputs.keys()].join(', ')}`,
      );
    compareTensor('output', io, tensor, config.maxBatchSize, true);
  }
}

function compareTensor(
  side: 'input' | 'output',
  io: ModelInput | ModelOutput,
  tensor: OnnxTensor,
  maxBatchSize: number,
  exact: boolean,
): void {
  const fail = (message: string): never => {
    throw new ModelConfigError(`${side} '${io.name}': ${message}`);
  };
  const wanted = ONNX_TYPES[io.dataType];
  if (wanted !== tensor.type) {
    fail(
      `the config declares ${DataType[io.dataType]}, the model provides ${OnnxType[tensor.type] ?? tensor.type}`,
    );
  }
  // A reshape is what the model sees, so it is what Triton compares.
  const dims = (io.reshape ? io.reshape.shape : io.dims).map(Number);
  const model = tensor.dims;
  if (model === undefined) return;
  if (model.length === 0) {
    // A scalar: the config may state only dims of 1.
    if (dims.some((d) => d !== 1))
      fail(`the model's tensor is a scalar, the config states [${dims.join(', ')}]`);
    return;
  }
  if (maxBatchSize > 0 && model[0] !== -1) {
    fail(
      `with max_batch_size > 0 the model's first dimension must be -1, the model's shape is [${model.join(', ')}]`,
    );
  }
  const full = maxBatchSize > 0 ? [-1, ...dims] : dims;
  const agrees = model.length === full.length && model.every((d, i) => (!exact && d === -1) || d === full[i]);
  if (!agrees) {
    fail(
      `the model's shape is [${model.join(', ')}], the config's is [${full.join(', ')}]${maxBatchSize > 0 ? ' (batch dimension included)' : ''}`,
    );
  }
}

/** Triton's config types as ONNX element types (`ModelConfigDataTypeToOnnxDataType`). */
const ONNX_TYPES: Partial<Record<DataType, OnnxType>> = {
  [DataType.TYPE_BOOL]: OnnxType.BOOL,
  [DataType.TYPE_UINT8]: OnnxType.UINT8,
  [DataType.TYPE_UINT16]: OnnxType.UINT16,
  [DataType.TYPE_UINT32]: OnnxType.UINT32,
  [DataType.TYPE_UINT64]: OnnxType.UINT64,
  [DataType.TYPE_INT8]: OnnxType.INT8,
  [DataType.TYPE_INT16]: OnnxType.INT16,
  [DataType.TYPE_INT32]: OnnxType.INT32,
  [DataType.TYPE_INT64]: OnnxType.INT64,
  [DataType.TYPE_FP16]: OnnxType.FLOAT16,
  [DataType.TYPE_FP32]: OnnxType.FLOAT,
  [DataType.TYPE_FP64]: OnnxType.DOUBLE,
  [DataType.TYPE_STRING]: OnnxType.STRING,
  [DataType.TYPE_BF16]: OnnxType.BFLOAT16,
};

function onnxTensor(info: ValueInfoProto): OnnxTensor {
  const type = info.type?.value;
  if (info.type?.value.case !== 'tensorType' || type?.value === undefined) {
    throw new Error(`'${info.name}' is not a tensor`);
  }
  const tensorType = info.type.value.value;
  return {
    type: tensorType.elemType as OnnxType,
    dims: tensorType.shape?.dim.map((d) => (d.value.case === 'dimValue' ? Number(d.value.value) : -1)),
  };
}

/** The last occurrence of a length-delimited field, as protobuf merges repeated message fields. */
function lengthDelimitedField(message: Uint8Array, wanted: number): Uint8Array | undefined {
  const reader = new BinaryReader(message);
  let found: Uint8Array | undefined;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === wanted && wireType === WireType.LengthDelimited) found = reader.bytes();
    else reader.skip(wireType, field);
  }
  return found;
}

function tensorName(tensor: Uint8Array): string {
  const name = lengthDelimitedField(tensor, TENSOR_NAME);
  return name ? new TextDecoder().decode(name) : '';
}
