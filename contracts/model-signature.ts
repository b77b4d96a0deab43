/**
 * What a model version accepts and returns, in Open Inference Protocol (KServe v2) terms. The
 * registry stores it, the inference handler validates requests against it, and the local model
 * server derives it from each `config.pbtxt`.
 */
export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type Datatype = (typeof DATATYPES)[number];

/** Bytes per element in the binary tensor encoding; BYTES is variable (4-byte length + data). */
export const DATATYPE_SIZE: Record<Exclude<Datatype, 'BYTES'>, number> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
};

export interface TensorSignature {
  readonly name: string;
  readonly datatype: Datatype;
  /** Full shape as a client sends it, batch dimension included; -1 marks a variable dimension. */
  readonly shape: readonly number[];
}

export interface ModelSignature {
  readonly inputs: readonly TensorSignature[];
  readonly outputs: readonly TensorSignature[];
  /** Largest batch (dim 0) the model takes; 0 means the model does not batch and shape has no batch dim. */
  readonly maxBatchSize: number;
}

/** A tensor's dims for one item: its shape without the batch dimension when the model batches. */
export function itemDims(signature: ModelSignature, tensor: TensorSignature): readonly number[] {
  return signature.maxBatchSize > 0 ? tensor.shape.slice(1) : tensor.shape;
}
