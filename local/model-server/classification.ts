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
import type { Datatype } from '../../contracts/model-signature';
import type { ModelDefinition } from '../../triton-image/model-repository';
import type { NumericTensorData, Tensor } from './tensors';

const utf8 = new TextEncoder();

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
      const text = `${formatValue(tensor.datatype, value(index))}:${index}${label === undefined ? '' : `:${label}`}`;
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

/** C++ `std::to_string`: `%f` for floating point, decimal digits for integers. */
function formatValue(datatype: Datatype, value: number | bigint): string {
  if (datatype === 'FP32' || datatype === 'FP64') return (value as number).toFixed(6);
  return String(value);
}
