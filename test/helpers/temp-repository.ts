import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TensorProto_DataType } from '../../contracts/triton/gen/onnx_pb';
import { DEFAULT_REPOSITORY_DIR } from '../../triton-image/scripts/build-models';
import { node, serializeOnnxModel, tensorValue } from '../../triton-image/scripts/onnx-graph';

/** A model repository in a temporary folder, removed by `remove()`. */
export interface TempRepository {
  readonly dir: string;
  /** Copies a shipped model under a new name, with its config.pbtxt rewritten by `edit`. */
  copyShipped(model: string, as: string, edit?: (config: string) => string): Promise<void>;
  /** Writes a model folder: config.pbtxt and 1/model.onnx. */
  write(name: string, config: string, onnx: Uint8Array): Promise<void>;
  remove(): Promise<void>;
}

export async function tempRepository(): Promise<TempRepository> {
  const dir = await mkdtemp(path.join(tmpdir(), 'model-repository-'));
  const write = async (name: string, config: string, onnx: Uint8Array) => {
    await mkdir(path.join(dir, name, '1'), { recursive: true });
    await writeFile(path.join(dir, name, 'config.pbtxt'), config);
    await writeFile(path.join(dir, name, '1', 'model.onnx'), onnx);
  };
  return {
    dir,
    async copyShipped(model, as, edit = (config) => config) {
      const source = path.join(DEFAULT_REPOSITORY_DIR, model);
      const config = (await readFile(path.join(source, 'config.pbtxt'), 'utf8')).replace(
        `name: "${model}"`,
        `name: "${as}"`,
      );
      await mkdir(path.join(dir, as, '1'), { recursive: true });
      await writeFile(path.join(dir, as, 'config.pbtxt'), edit(config));
      await copyFile(path.join(source, '1', 'model.onnx'), path.join(dir, as, '1', 'model.onnx'));
      // Label files (label_filename), which the server reads when it loads the model.
      for (const file of (await readdir(source)).filter((name) => name.endsWith('.txt'))) {
        await copyFile(path.join(source, file), path.join(dir, as, file));
      }
    },
    write,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** `simple`'s config with its dynamic_batching block replaced (or removed, with ''). */
export function withDynamicBatching(config: string, block: string): string {
  return config.replace(/dynamic_batching \{[^}]*\}\n/, block === '' ? '' : `${block}\n`);
}

/**
 * An identity model for the datatypes JSON cannot carry well: each input `<T>_IN` comes back as
 * `<T>_OUT`, rows of 2, batched, with dynamic batching so rows of several requests share executions.
 */
export const IDENTITY_TYPES = [
  { name: 'HALF', datatype: 'FP16', config: 'TYPE_FP16', onnx: TensorProto_DataType.FLOAT16 },
  { name: 'FLAG', datatype: 'BOOL', config: 'TYPE_BOOL', onnx: TensorProto_DataType.BOOL },
  { name: 'TEXT', datatype: 'BYTES', config: 'TYPE_STRING', onnx: TensorProto_DataType.STRING },
  { name: 'LONG', datatype: 'INT64', config: 'TYPE_INT64', onnx: TensorProto_DataType.INT64 },
] as const;

export function identityModel(
  name: string,
  queueDelayMicroseconds: number,
): { config: string; onnx: Uint8Array } {
  const tensors = (suffix: string) =>
    IDENTITY_TYPES.map((t) => `{ name: "${t.name}_${suffix}" data_type: ${t.config} dims: [ 2 ] }`).join(
      ',\n  ',
    );
  const config = `name: "${name}"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  ${tensors('IN')}
]
output [
  ${tensors('OUT')}
]
dynamic_batching { max_queue_delay_microseconds: ${queueDelayMicroseconds} }
`;
  const onnx = serializeOnnxModel({
    graphName: name,
    inputs: IDENTITY_TYPES.map((t) => tensorValue(`${t.name}_IN`, t.onnx, ['batch', 2])),
    outputs: IDENTITY_TYPES.map((t) => tensorValue(`${t.name}_OUT`, t.onnx, ['batch', 2])),
    nodes: IDENTITY_TYPES.map((t) => node('Identity', t.name, [`${t.name}_IN`], [`${t.name}_OUT`])),
  });
  return { config, onnx };
}
