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

/**
 * A ustar header for `name` whose size field holds `size` as given (octal text or raw bytes), of
 * typeflag `type` (a file by default) and link target `linkname`.
 */
function header(name: string, size: string | Buffer, type = '0', linkname = ''): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 'latin1');
  block.write('0000644\0', 100, 'latin1');
  if (typeof size === 'string') block.write(size, 124, 'latin1');
  else size.copy(block, 124);
  block.write(type, 156, 'latin1');
  block.write(linkname, 157, 'utf8');
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
      expect(read.entries).toEqual([
        { path: 'm/config.pbtxt', type: 'file', size: config.length, data: new Uint8Array(config) },
      ]);
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

describe('readArchive and the check on links and long names', () => {
  /** A member: its header (typeflag `type`, link target `linkname`) and its data padded to whole blocks. */
  const member = (name: string, data = Buffer.alloc(0), type = '0', linkname = '') => [
    header(name, `${data.length.toString(8)}\0`, type, linkname),
    padded(data),
  ];
  /** A pax extended header whose records are `records`, for the member that follows. */
  const pax = (records: Record<string, string>) =>
    member(
      'PaxHeader',
      Buffer.concat(
        Object.entries(records).map(([key, value]) => {
          const body = ` ${key}=${value}\n`;
          let length = Buffer.byteLength(body);
          length += String(length + String(length).length).length;
          return Buffer.from(`${length}${body}`);
        }),
      ),
      'x',
    );
  /** A model `m` the check accepts, then `more`. */
  const model = (...more: Buffer[][]) => {
    const weights = 16;
    return archive(
      ...member('m/config.pbtxt', onnxConfig),
      ...member('m/1/model.onnx', Buffer.concat([modelBeforeWeights(weights), Buffer.alloc(weights)])),
      ...more.flat(),
    );
  };
  const check = async (...more: Buffer[][]) =>
    checkModelArchive((await readArchive(model(...more), MAX_UNPACKED_BYTES)).entries);

  it('accepts links that stay in the model folder', async () => {
    const checked = await check(
      member('m/1/alias.onnx', undefined, '2', 'model.onnx'),
      member('m/1/config.pbtxt', undefined, '2', '../config.pbtxt'),
      member('m/config.copy', undefined, '1', './m/config.pbtxt'),
      member('m/self', undefined, '2', '.'),
    );
    expect(checked.folder).toBe('m');
    const read = await readArchive(
      model(member('m/link', undefined, '2', '1/model.onnx')),
      MAX_UNPACKED_BYTES,
    );
    expect(read.entries.at(-1)).toEqual({ path: 'm/link', type: 'symlink', linkpath: '1/model.onnx' });
  });

  it.each([
    ['a symlink to an absolute path', member('m/link', undefined, '2', '/etc/passwd')],
    ['a symlink up out of the archive', member('m/1/link', undefined, '2', '../../x')],
    ['a symlink up to the root', member('m/link', undefined, '2', '..')],
    ['a symlink into another folder', member('m/link', undefined, '2', '../n/file')],
    ['a hard link to an absolute path', member('m/link', undefined, '1', '/etc/passwd')],
    ['a hard link up out of the archive', member('m/link', undefined, '1', '../etc/passwd')],
    ['a hard link outside the model folder', member('m/link', undefined, '1', 'n/file')],
    [
      'a symlink whose GNU long link name is absolute',
      [
        ...member('././@LongLink', Buffer.from('/etc/passwd\0'), 'K'),
        ...member('m/link', undefined, '2', 'ok'),
      ],
    ],
    [
      'a symlink whose pax linkpath is absolute',
      [...pax({ linkpath: '/etc/passwd' }), ...member('m/link', undefined, '2', 'ok')],
    ],
  ])('refuses %s', async (_, link) => {
    await expect(check(link)).rejects.toThrow(
      /^the archive entry m\/(1\/)?link links to ".*", outside its model folder m\/$/,
    );
  });

  it('refuses paths and targets through a symlink, and a hard link to no earlier file', async () => {
    // m/1/up is m, so m/a, which reads as m/1, would be the archive's root once unpacked.
    const up = member('m/1/up', undefined, '2', '..');
    await expect(check(up, member('m/a', undefined, '2', '1/up/..'))).rejects.toThrow(
      'the archive entry m/a links through a symlink',
    );
    await expect(check(up, member('m/1/up/file', Buffer.from('x')))).rejects.toThrow(
      'the archive entry m/1/up/file lies under a symlink',
    );
    await expect(check(member('m/link', undefined, '1', 'm/later'), member('m/later'))).rejects.toThrow(
      'the archive entry m/link is a hard link to m/later, which is no file before it in the archive',
    );
  });

  it('refuses a name longer than 255 bytes, as a GNU long name or pax path gives it', async () => {
    const name = (bytes: number) => `m/${'é'.repeat(bytes / 2)}`;
    await expect(check(pax({ path: name(254) }), member('ignored'))).resolves.toMatchObject({ folder: 'm' });
    for (const longName of [
      [...member('././@LongLink', Buffer.from(`${name(256)}\0`), 'L'), ...member('ignored')],
      [...pax({ path: name(256) }), ...member('ignored')],
    ]) {
      const read = readArchive(model(longName), MAX_UNPACKED_BYTES);
      await expect(read).rejects.toThrow(BadRequestError);
      await expect(read).rejects.toThrow(
        'has a name of 256 bytes; a file name may have at most 255 (Linux NAME_MAX)',
      );
    }
  });
});
