/**
 * Triton's classification extension (docs/protocol/extension_classification.md of
 * triton-inference-server/server): an output requested with `parameters.classification: k` comes
 * back as BYTES of shape [batch, min(k, classes)] (no batch dimension for a model that does not
 * batch), each element `<value>:<index>[:<label>]` for the k highest values of that row, highest
 * first. As in `TopkClassifications` (src/classification.cc) and the response writer
 * (src/http_server.cc): values print as C++ `std::to_string` does (six decimals for floats, plain
 * integers otherwise), labels come from the output's `label_filename`, one per line, and an index
 * past the end of that file has no label. Triton sorts with `std::sort`, which leaves ties in no
 * particular order; here ties keep index order. Which datatypes can be ranked is checked with the
 * request (`CLASSIFIABLE` in functions/inference/protocol.ts), before the model runs.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInferenceRequestError } from '../../functions/inference/protocol';
import type { ModelDefinition } from '../../triton-image/model-repository';
import type { NumericTensorData, Tensor } from './tensors';

const utf8 = new TextEncoder();
const MAX_CLASSIFICATION_ELEMENTS = 1_000_000;

/** Each output's labels, by output name, read from the files its config names. */
export type OutputLabels = ReadonlyMap<string, readonly string[]>;

/**
 * Reads the label files of a model's outputs (`label_filename`, relative to the model folder). As in
 * Triton's core (`Model::Init` in src/model.cc, `LabelProvider::AddLabels`), a file outside the model
 * folder or one that cannot be read fails the model's load.
 */
export async function loadLabels(definition: ModelDefinition): Promise<OutputLabels> {
  const labels = new Map<string, readonly string[]>();
  for (const output of definition.config.output) {
    if (output.labelFilename === '') continue;
    const file = path.join(definition.directory, output.labelFilename);
    const fail = (why: string): never => {
      throw new Error(
        `label file path '${file}' for output '${output.name}' in model '${definition.name}' ${why}`,
      );
    };
    if (path.relative(definition.directory, file).startsWith('..')) fail('is outside model directory');
    const text = await readFile(file, 'utf8').catch((error: Error) =>
      fail(`cannot be read: ${error.message}`),
    );
    const lines = text.split('\n');
    // A final newline ends the last label; it does not start another.
    if (lines.at(-1) === '') lines.pop();
    labels.set(output.name, lines);
  }
  return labels;
}

/** The top `count` classes of each batch row of `tensor`, as Triton returns them. */
export function classify(
  tensor: Tensor,
  count: number,
  batched: boolean,
  labels: readonly string[] | undefined,
): Tensor {
  const data = tensor.data as NumericTensorData;
  const batch = batched && tensor.shape.length > 0 ? tensor.shape[0]! : 0;
  const rowLength = batch === 0 ? data.length : tensor.shape.slice(1).reduce((n, dim) => n * dim, 1);
  // Triton refuses to rank a row of more elements (`kMaxClassificationElements`, src/classification.cc).
  if (rowLength > MAX_CLASSIFICATION_ELEMENTS) {
    throw new InvalidInferenceRequestError('classification output tensor too large');
  }
  const kept = Math.min(count, rowLength);
  const elements: Uint8Array[] = [];
  for (let row = 0; row < Math.max(1, batch); row++) {
    const offset = row * rowLength;
    const value = (i: number) => data[offset + i]!;
    const order = Array.from({ length: rowLength }, (_, i) => i).sort((a, b) => {
      const x = value(a);
      const y = value(b);
      return x > y ? -1 : x < y ? 1 : a - b;
    });
    for (const index of order.slice(0, kept)) {
      const label = labels?.[index];
      const text = `${formatValue(data, offset + index)}:${index}${label === undefined ? '' : `:${label}`}`;
      elements.push(utf8.encode(text));
    }
  }
  return {
    name: tensor.name,
    datatype: 'BYTES',
    shape: batch > 0 ? [batch, kept] : [kept],
    data: elements,
  };
}

/** C++ `std::to_string` of an element: `%f` for floating point, decimal digits for integers. */
function formatValue(data: NumericTensorData, index: number): string {
  const value = data[index]!;
  if (data instanceof Float32Array || data instanceof Float64Array) {
    const negative = Number.isNaN(value) ? signBitOf(data, index) : value < 0 || Object.is(value, -0);
    return formatFixed6(value as number, negative);
  }
  return String(value);
}

/** The sign bit of a floating-point element, which a NaN keeps and a JavaScript number does not show. */
function signBitOf(data: Float32Array | Float64Array, index: number): boolean {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return (view.getUint8(index * data.BYTES_PER_ELEMENT + data.BYTES_PER_ELEMENT - 1) & 0x80) !== 0;
}

/**
 * `printf("%f")` as glibc writes it (which `std::to_string` uses): `nan`, `inf` with their sign, and
 * otherwise the exact binary value rounded to six decimals, half to even (the default rounding mode),
 * with every integer digit and the sign of a negative value that rounds to zero.
 */
export function formatFixed6(value: number, negative: boolean): string {
  const sign = negative ? '-' : '';
  if (Number.isNaN(value)) return `${sign}nan`;
  if (!Number.isFinite(value)) return `${sign}inf`;
  // value = mantissa * 2^exponent exactly, from the double's bits.
  const bits = new DataView(new Float64Array([Math.abs(value)]).buffer).getBigUint64(0, true);
  const biased = Number(bits >> 52n);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (biased === 0 ? 1 : biased) - 1075;
  const scaled = mantissa * 1_000_000n;
  let millionths: bigint;
  if (exponent >= 0) millionths = scaled << BigInt(exponent);
  else {
    const divisor = 1n << BigInt(-exponent);
    millionths = scaled / divisor;
    const twice = (scaled % divisor) * 2n;
    if (twice > divisor || (twice === divisor && millionths % 2n === 1n)) millionths += 1n;
  }
  const digits = millionths.toString().padStart(7, '0');
  return `${sign}${digits.slice(0, -6)}.${digits.slice(-6)}`;
}
