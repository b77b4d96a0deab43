import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../../functions/edge/errors';
import { readArchive } from '../../functions/handlers/models/archive-reader';

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
