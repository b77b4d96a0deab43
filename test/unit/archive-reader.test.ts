import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { MAX_HELD_BYTES, MAX_HELD_ITEM_BYTES, MAX_UNPACKED_BYTES } from '../../contracts/model-store';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  TensorProto_DataType as T,
  TensorProtoSchema,
} from '../../contracts/triton/gen/onnx_pb';
import { checkModelArchive } from '../../contracts/triton/model-archive';
import { BadRequestError, PayloadTooLargeError } from '../../functions/edge/errors';
import { readArchive } from '../../functions/handlers/models/archive-reader';
import { node, tensorValue } from '../../triton-image/scripts/onnx-graph';

const BLOCK = 512;

/** A ustar header for `name` whose size field holds `size` as given (octal text or raw bytes). */
function header(name: string, size: string | Buffer): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  if (typeof size === 'string') block.write(size, 124, 'latin1');
  else size.copy(block, 124);
  block.write('0', 156, 'latin1');
  block.write('ustar\u000000', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

const archive = (...blocks: Buffer[]) =>
  Readable.from([gzipSync(Buffer.concat([...blocks, Buffer.alloc(2 * BLOCK)]))]);
const config = Buffer.from('name: "m"\n');
const padded = (data: Buffer) => Buffer.concat([data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK)]);

describe('readArchive', () => {
  it('reads a member whose size is octal text or GNU base-256', async () => {
    const base256 = Buffer.alloc(12);
    base256[0] = 0x80;
    base256.writeUInt32BE(config.length, 8);
    for (const size of [`${config.length.toString(8).padStart(11, '0')}\0`, base256]) {
      const read = await readArchive(archive(header('m/config.pbtxt', size), padded(config)), 1 << 20);
      expect(read.entries).toEqual([{ path: 'm/config.pbtxt', type: 'file', data: new Uint8Array(config) }]);
    }
  });

  it.each([
    ['a digit that is not octal', '9'],
    ['octal digits followed by a letter', '17x'],
    ['a sign', '-1'],
    ['a negative base-256 number', Buffer.alloc(12, 0xff)],
    [
      'a base-256 number past 2^53',
      Buffer.from([0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ],
  ])('refuses a size field holding %s as no tar file, rather than reading forever', async (_, size) => {
    const read = readArchive(archive(header('m/config.pbtxt', size), Buffer.alloc(4 * BLOCK)), 1 << 20);
    await expect(read).rejects.toThrow(BadRequestError);
    await expect(read).rejects.toThrow(/not a tar file \(a numeric header field/);
  });
});

const MiB = 1024 * 1024;
setFlagsFromString('--expose-gc');
/** A full collection, so that one test's garbage is not counted in, or freed during, the next one's measure. */
const gc = runInNewContext('gc') as () => void;
const onnxConfig = Buffer.from(`name: "m"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
`);

/**
 * The bytes of a `model.onnx` up to its weights: a graph Y = X + W whose initializer W holds
 * `weights` bytes of `raw_data`, which follow these bytes and end the file.
 */
function modelBeforeWeights(weights: number): Buffer {
  const lengthDelimited = (field: number, length: number) =>
    new BinaryWriter().tag(field, WireType.LengthDelimited).uint32(length).finish();
  const graph = toBinary(
    GraphProtoSchema,
    create(GraphProtoSchema, {
      name: 'g',
      input: [tensorValue('X', T.FLOAT, ['batch', 4])],
      output: [tensorValue('Y', T.FLOAT, ['batch', 4])],
      node: [node('Add', 'add', ['X', 'W'], ['Y'])],
    }),
  );
  const tensor = Buffer.concat([
    toBinary(TensorProtoSchema, create(TensorProtoSchema, { name: 'W', dims: [4n], dataType: T.FLOAT })),
    lengthDelimited(9, weights),
  ]);
  const initializer = Buffer.concat([lengthDelimited(5, tensor.length + weights), tensor]);
  return Buffer.concat([
    toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 8n, opsetImport: [{ version: 15n }] })),
    lengthDelimited(7, graph.length + initializer.length + weights),
    graph,
    initializer,
  ]);
}

/**
 * A gzip of `m/config.pbtxt` and a `m/1/model.onnx` of `head` then `zeros` bytes of zeros, made as it
 * is read: the zeros are one compressed MiB repeated (gunzip reads concatenated gzip members as one
 * stream), so that a tiny gzip unpacks to hundreds of MB without the test holding them. `onMiB` is
 * called as each MiB of zeros is handed over.
 */
function zerosArchive(head: Buffer, zeros: number, onMiB: () => void): Readable {
  const zeroMiB = gzipSync(Buffer.alloc(MiB));
  const size = head.length + zeros;
  return Readable.from(
    (function* () {
      yield gzipSync(
        Buffer.concat([
          header('m/config.pbtxt', `${onnxConfig.length.toString(8)}\0`),
          padded(onnxConfig),
          header('m/1/model.onnx', `${size.toString(8)}\0`),
          head,
        ]),
      );
      for (let i = 0; i < zeros / MiB; i++) {
        onMiB();
        yield zeroMiB;
      }
      yield gzipSync(Buffer.alloc(((BLOCK - (size % BLOCK)) % BLOCK) + 2 * BLOCK));
    })(),
  );
}

/** The heap and the buffers outside it. */
const memory = () => {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
};

/**
 * Reads and checks such an archive, answering the check's result or refusal and the most memory the
 * read held above the least held before or during it: what an earlier test left may be freed only
 * while this one reads. Nothing the read held outlives the call.
 */
async function readZeros(head: Buffer, zeros: number) {
  gc();
  const start = memory();
  let peak = 0;
  let floor = start;
  const read = await readArchive(
    zerosArchive(head, zeros, () => {
      const now = memory();
      floor = Math.min(floor, now);
      peak = Math.max(peak, now - floor);
    }),
    MAX_UNPACKED_BYTES,
  );
  try {
    return { peak, checked: checkModelArchive(read.entries) };
  } catch (error) {
    return { peak, refused: (error as Error).message };
  }
}

describe('readArchive in bounded memory', () => {
  // What the reader may hold beyond the data it counts: the stream's buffers and the parsers' state.
  const bound = MAX_HELD_BYTES + MAX_HELD_ITEM_BYTES + 32 * MiB;

  it('reads past a model file of hundreds of MB of zeros, which is no ONNX model, as before', async () => {
    const { peak, refused } = await readZeros(Buffer.alloc(0), 256 * MiB);
    expect(peak).toBeLessThan(bound);
    expect(refused).toBe(
      'm/1/model.onnx: the model file is not an ONNX model: illegal tag: field no 0 wire type 0',
    );
  });

  it('checks an ONNX model of hundreds of MB of weights without holding them', async () => {
    const weights = 256 * MiB;
    const { peak, checked } = await readZeros(modelBeforeWeights(weights), weights);
    expect(peak).toBeLessThan(bound);
    expect(checked?.signature.inputs).toEqual([{ name: 'X', datatype: 'FP32', shape: [-1, 4] }]);
  });

  it('refuses a member it would have to hold past its limit with a 413 naming the limit', async () => {
    const big = Buffer.concat([Buffer.from('name: "m"\n'), Buffer.alloc(MAX_HELD_ITEM_BYTES, 0x20)]);
    const read = readArchive(
      archive(header('m/config.pbtxt', `${big.length.toString(8)}\0`), padded(big)),
      MAX_UNPACKED_BYTES,
    );
    await expect(read).rejects.toThrow(PayloadTooLargeError);
    await expect(read).rejects.toThrow(
      `m/config.pbtxt is ${big.length} bytes, over the ${MAX_HELD_ITEM_BYTES} bytes`,
    );
  });
});
