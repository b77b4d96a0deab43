import { create, toBinary } from '@bufbuild/protobuf';
import {
  type AttributeProto,
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  type GraphProto,
  GraphProtoSchema,
  ModelProtoSchema,
  type NodeProto,
  NodeProtoSchema,
  type TensorProto,
  TensorProto_DataType,
  TensorProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from '../../contracts/triton/gen/onnx_pb';

/**
 * IR version 8 with opset 15 is the ONNX 1.10 pairing: old enough for the onnxruntime inside every
 * SageMaker Triton image (23.12 onwards) and for onnxruntime-node, new enough for every op used here.
 */
export const ONNX_IR_VERSION = 8n;
export const ONNX_OPSET_VERSION = 15n;

/** A dimension is a fixed size or a symbolic name (a variable size, e.g. the batch). */
export type OnnxDim = number | string;

export function tensorValue(
  name: string,
  elemType: TensorProto_DataType,
  dims: readonly OnnxDim[],
): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: {
      value: {
        case: 'tensorType',
        value: {
          elemType,
          shape: {
            dim: dims.map((d) => ({
              value:
                typeof d === 'number'
                  ? { case: 'dimValue' as const, value: BigInt(d) }
                  : { case: 'dimParam' as const, value: d },
            })),
          },
        },
      },
    },
  });
}

export function node(
  opType: string,
  name: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: readonly AttributeProto[] = [],
): NodeProto {
  return create(NodeProtoSchema, {
    opType,
    name,
    input: [...inputs],
    output: [...outputs],
    attribute: [...attributes],
  });
}

export function intAttribute(name: string, value: number): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(value) });
}

/** An FP32 initializer; `values` are rounded to float32 and laid out row-major over `dims`. */
export function floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  const size = dims.reduce((a, b) => a * b, 1);
  if (values.length !== size) {
    throw new Error(`initializer "${name}": ${values.length} values do not fill dims [${dims.join(', ')}]`);
  }
  return create(TensorProtoSchema, {
    name,
    dataType: TensorProto_DataType.FLOAT,
    dims: dims.map(BigInt),
    floatData: Array.from(Float32Array.from(values)),
  });
}

export interface OnnxModelOptions {
  readonly graphName: string;
  readonly inputs: readonly ValueInfoProto[];
  readonly outputs: readonly ValueInfoProto[];
  readonly nodes: readonly NodeProto[];
  readonly initializers?: GraphProto['initializer'];
  readonly docString?: string;
}

/**
 * Serialises a single-graph model on the default ONNX domain. The encoding has no timestamps or
 * versions of the build tooling in it, so the same options always give the same bytes.
 */
export function serializeOnnxModel(options: OnnxModelOptions): Uint8Array {
  const graph = create(GraphProtoSchema, {
    name: options.graphName,
    input: [...options.inputs],
    output: [...options.outputs],
    node: [...options.nodes],
    initializer: [...(options.initializers ?? [])],
  });
  const model = create(ModelProtoSchema, {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET_VERSION }],
    producerName: 'triton-image/scripts/build-models.ts',
    graph,
    // proto2 fields have presence: leave doc_string out entirely rather than write an empty one.
    ...(options.docString === undefined ? {} : { docString: options.docString }),
  });
  return toBinary(ModelProtoSchema, model);
}
