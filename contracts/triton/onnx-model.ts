/**
 * The check Triton's ONNX Runtime backend makes when it loads a model: each tensor of
 * `config.pbtxt` must be one the model has, with the same element type and a shape that agrees.
 * The rules follow `ValidateInputs`/`ValidateOutputs` in `src/onnxruntime.cc` and
 * `CompareDimsSupported` in `src/onnxruntime_utils.cc` of
 * github.com/triton-inference-server/onnxruntime_backend; sources in docs/shipping-models.md.
 */

import { fromBinary } from '@bufbuild/protobuf';
import { DataType, type ModelConfig, type ModelInput, type ModelOutput } from './gen/model_config_pb';
import { TensorProto_DataType as OnnxType, type ValueInfoProto, ValueInfoProtoSchema } from './gen/onnx_pb';
import { HeldBytes, HoldLimitError } from './held-bytes';
import { ModelConfigError } from './model-config';
import { type FieldAction, ProtobufScan, type ProtobufVisitor } from './protobuf-scan';

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
// SparseTensorProto.values), read directly so that the weights are skipped, not held.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_SPARSE_INITIALIZER = 15;
const TENSOR_NAME = 8;
const SPARSE_TENSOR_VALUES = 1;

type Scope = 'model' | 'graph' | 'initializer' | 'sparse' | 'sparse values';

/**
 * A graph input or output is a name and a shape, a few bytes a dimension; decoded, each dimension
 * is a message while it is read and a number after. Measured with 2-byte dimensions, this limit
 * keeps a description's decoding to a few MB, and the weight counts the numbers kept.
 */
const MAX_TENSOR_DESCRIPTION_BYTES = 64 * 1024;
const TENSOR_DESCRIPTION_WEIGHT = 4;

/** A graph input or output as read: its tensor, or why it is none (told only if it is the graph read last). */
type Described = readonly [name: string, tensor: OnnxTensor | Error];

/**
 * Reads the graph's inputs and outputs from a `model.onnx` handed over in chunks, holding only them
 * and the initializers' names: the weights (initializers' data, nodes' attributes) are read past.
 * Its answer, or why there is none, is `tensors()`; once read, it keeps only that answer.
 */
export class OnnxScan {
  #reader?: GraphReader;
  #tensors?: OnnxGraphTensors;
  /** Kept as text: an error's stack is many times the size of its message. */
  #refusal?: { readonly message: string; readonly tooLarge: boolean };

  constructor(budget: HeldBytes) {
    this.#reader = new GraphReader(budget);
  }

  push(chunk: Uint8Array): void {
    this.#guard((reader) => reader.push(chunk));
  }

  end(): void {
    this.#guard((reader) => {
      this.#tensors = reader.end();
      this.#reader = undefined;
    });
  }

  /** The graph's tensors; throws a `ModelConfigError` if the file is no ONNX model or too much to hold. */
  tensors(): OnnxGraphTensors {
    const refusal = this.#refusal;
    if (refusal) throw new (refusal.tooLarge ? HoldLimitError : ModelConfigError)(refusal.message);
    if (!this.#tensors) throw new Error('the model file was not read to its end');
    return this.#tensors;
  }

  /** Runs a step of the read; its first error is the answer, and what was held is let go. */
  #guard(step: (reader: GraphReader) => void): void {
    const reader = this.#reader;
    if (!reader) return;
    try {
      step(reader);
    } catch (error) {
      reader.drop();
      this.#reader = undefined;
      this.#refusal =
        error instanceof ModelConfigError
          ? { message: error.message, tooLarge: error instanceof HoldLimitError }
          : { message: `the model file is not an ONNX model: ${(error as Error).message}`, tooLarge: false };
    }
  }
}

class GraphReader implements ProtobufVisitor<Scope> {
  readonly #scan = new ProtobufScan<Scope>('model', this);
  /** Of the graph read last, as the check always took it (a model has one; protobuf would merge several). */
  #inputs: Described[] = [];
  #outputs: Described[] = [];
  #initializers = new Set<string>();
  #name?: string;
  #graph = false;
  #held = 0;

  constructor(private readonly budget: HeldBytes) {}

  push(chunk: Uint8Array): void {
    this.#scan.push(chunk);
  }

  end(): OnnxGraphTensors {
    this.#scan.end();
    if (!this.#graph) throw new Error('it has no graph');
    const byName = (list: Described[]) =>
      new Map(
        list.map(([name, tensor]) => {
          if (tensor instanceof Error) throw tensor;
          return [name, tensor];
        }),
      );
    return {
      inputs: byName(this.#inputs.filter(([name]) => !this.#initializers.has(name))),
      overridableInitializers: byName(this.#inputs.filter(([name]) => this.#initializers.has(name))),
      outputs: byName(this.#outputs),
    };
  }

  field(scope: Scope, field: number, length: number): FieldAction<Scope> {
    if (scope === 'model') {
      if (field !== MODEL_GRAPH) return 'skip';
      this.drop();
      this.#graph = true;
      return { descend: 'graph' };
    }
    if (scope === 'graph') {
      if (field === GRAPH_INPUT || field === GRAPH_OUTPUT)
        return this.#hold(
          length,
          'a graph input or output',
          MAX_TENSOR_DESCRIPTION_BYTES,
          TENSOR_DESCRIPTION_WEIGHT,
        );
      if (field === GRAPH_INITIALIZER) {
        this.#name = '';
        return { descend: 'initializer' };
      }
      if (field === GRAPH_SPARSE_INITIALIZER) {
        this.#name = undefined;
        return { descend: 'sparse' };
      }
      return 'skip';
    }
    if (scope === 'sparse') {
      if (field !== SPARSE_TENSOR_VALUES) return 'skip';
      this.#name = '';
      return { descend: 'sparse values' };
    }
    return field === TENSOR_NAME ? this.#hold(length, 'an initializer name') : 'skip';
  }

  held(scope: Scope, field: number, bytes: Uint8Array): void {
    if (scope !== 'graph') this.#name = new TextDecoder().decode(bytes);
    else {
      const info = fromBinary(ValueInfoProtoSchema, bytes);
      const described: Described = [info.name, tensorOrError(info)];
      (field === GRAPH_INPUT ? this.#inputs : this.#outputs).push(described);
    }
  }

  closed(scope: Scope): void {
    if ((scope === 'initializer' || scope === 'sparse') && this.#name !== undefined) {
      this.#initializers.add(this.#name);
    }
  }

  /** Lets go of the graph read so far. */
  drop(): void {
    this.budget.release(this.#held);
    this.#held = 0;
    this.#inputs = [];
    this.#outputs = [];
    this.#initializers = new Set();
  }

  #hold(...item: Parameters<HeldBytes['hold']>): 'hold' {
    this.#held += this.budget.hold(...item);
    return 'hold';
  }
}

/** Reads the graph's inputs and outputs from the bytes of a `model.onnx`. */
export function readOnnxTensors(model: Uint8Array): OnnxGraphTensors {
  const scan = new OnnxScan(new HeldBytes());
  scan.push(model);
  scan.end();
  return scan.tensors();
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

function tensorOrError(info: ValueInfoProto): OnnxTensor | Error {
  try {
    return onnxTensor(info);
  } catch (error) {
    return error as Error;
  }
}

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
