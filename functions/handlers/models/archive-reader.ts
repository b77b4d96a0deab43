/**
 * Reads an uploaded `model.tar.gz` in one pass, as it streams from the model store: the SHA-256 and
 * size of its bytes, and its tar entries (POSIX ustar, with pax and GNU long names and link
 * targets), keeping the bytes only of the configs the archive check reads and scanning version
 * folders' files as ONNX models as they pass. Nothing is written to disk, and what is held is
 * counted against `MAX_HELD_BYTES`, so that the memory the read takes does not grow with the
 * archive's members.
 */
import { createHash } from 'node:crypto';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { HeldBytes, HoldLimitError } from '../../../contracts/triton/held-bytes';
import { type ArchiveEntry, contentRead, normalizeEntryPath } from '../../../contracts/triton/model-archive';
import { OnnxScan } from '../../../contracts/triton/onnx-model';
import { BadRequestError, PayloadTooLargeError } from '../../edge/errors';

export interface ReadArchive {
  /** Hex SHA-256 of the archive's bytes as stored. */
  readonly sha256: string;
  readonly size: number;
  readonly entries: ArchiveEntry[];
}

const BLOCK = 512;

/** Reads the archive; `maxUnpackedBytes` bounds the tar inside, so a small gzip cannot expand without limit. */
export async function readArchive(
  body: AsyncIterable<Uint8Array> | NodeJS.ReadableStream,
  maxUnpackedBytes: number,
): Promise<ReadArchive> {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const tar = new TarEntries(maxUnpackedBytes);
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        tar.push(chunk);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  try {
    await pipeline(body as NodeJS.ReadableStream, tap, createGunzip(), sink);
  } catch (error) {
    if (error instanceof BadRequestError) throw error;
    if (error instanceof HoldLimitError) throw archiveTooLarge(error);
    if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new BadRequestError(`the archive is not a gzip file: ${(error as Error).message}`);
    }
    throw error;
  }
  return { sha256: hash.digest('hex'), size, entries: tar.finish() };
}

/** The refusal of an archive the check cannot read within its memory limits. */
export const archiveTooLarge = (error: HoldLimitError) =>
  new PayloadTooLargeError(`the archive is refused: ${error.message}`);

/**
 * The members by typeflag (POSIX ustar; 'x' pax, 'L' and 'K' GNU long name and link name); any
 * other is `other`.
 */
const TYPES: Record<string, ArchiveEntry['type'] | 'pax' | 'longname' | 'longlink'> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '5': 'directory',
  x: 'pax',
  L: 'longname',
  K: 'longlink',
};

/** An incremental tar parser: header blocks, then each member's data padded to whole blocks. */
class TarEntries {
  private readonly entries: ArchiveEntry[] = [];
  private readonly held = new HeldBytes();
  private pending = Buffer.alloc(0);
  private unpacked = 0;
  private ended = false;
  /** The member whose data is being read. */
  private member?: {
    /** Undefined for a pax header or long name, and for the archive's root. */
    path?: string;
    type: ArchiveEntry['type'] | 'pax' | 'longname' | 'longlink';
    linkpath?: string;
    size: number;
    remaining: number;
    padding: number;
    /** The bytes of a config, pax header or long name, filled as they come. */
    data?: Uint8Array;
    /** What holding `data` counts in `held`. */
    cost: number;
    onnx?: OnnxScan;
  };
  /** A name given by a pax header or GNU long name for the next member. */
  private nextName?: string;
  /** A link target given by a pax header or GNU long link name for the next member. */
  private nextLinkpath?: string;

  constructor(private readonly maxUnpackedBytes: number) {}

  push(chunk: Buffer): void {
    this.unpacked += chunk.length;
    if (this.unpacked > this.maxUnpackedBytes) {
      throw new BadRequestError(`the archive unpacks to more than ${this.maxUnpackedBytes} bytes`);
    }
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0 && !this.ended) {
      const member = this.member;
      if (member === undefined) {
        if (data.length < BLOCK) break;
        this.header(data.subarray(0, BLOCK));
        data = data.subarray(BLOCK);
        continue;
      }
      if (member.remaining > 0) {
        const take = Math.min(member.remaining, data.length);
        member.data?.set(data.subarray(0, take), member.data.length - member.remaining);
        member.onnx?.push(data.subarray(0, take));
        member.remaining -= take;
        data = data.subarray(take);
        if (member.remaining === 0) this.memberRead();
        continue;
      }
      const skip = Math.min(member.padding, data.length);
      member.padding -= skip;
      data = data.subarray(skip);
      if (member.padding === 0) this.member = undefined;
    }
    if (!this.ended && data.length > 0) this.pending = Buffer.from(data);
  }

  finish(): ArchiveEntry[] {
    if (!this.ended && (this.member !== undefined || this.pending.length > 0)) {
      throw new BadRequestError('the archive ends in the middle of a tar entry');
    }
    return this.entries;
  }

  private header(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      // The first of the two zero blocks that end an archive.
      this.ended = true;
      return;
    }
    if (!validChecksum(block)) throw notTar('a header checksum is wrong');
    const typeflag = String.fromCharCode(block[156]!);
    const ustar = block.subarray(257, 262).toString('latin1') === 'ustar';
    const prefix = ustar ? text(block.subarray(345, 500)) : '';
    const headerName = prefix ? `${prefix}/${text(block.subarray(0, 100))}` : text(block.subarray(0, 100));
    const size = octal(block.subarray(124, 136));
    const type = TYPES[typeflag] ?? 'other';
    // Global pax headers ('g') and other metadata members are read past like any other member.
    const meta = type === 'pax' || type === 'longname' || type === 'longlink';
    const path = meta ? undefined : normalizeName(this.nextName ?? headerName);
    const linkpath =
      type === 'symlink' || type === 'hardlink'
        ? (this.nextLinkpath ?? text(block.subarray(157, 257)))
        : undefined;
    if (!meta) this.nextName = this.nextLinkpath = undefined;
    const read = meta ? 'bytes' : type === 'file' && path !== undefined ? contentRead(path) : undefined;
    this.member = {
      ...(path !== undefined ? { path } : {}),
      type,
      ...(linkpath !== undefined ? { linkpath } : {}),
      size,
      remaining: size,
      padding: (BLOCK - (size % BLOCK)) % BLOCK,
      cost: read === 'bytes' ? this.held.hold(size, meta ? `a ${type} header` : path!) : 0,
      ...(read === 'bytes' ? { data: new Uint8Array(size) } : {}),
      ...(read === 'onnx' ? { onnx: new OnnxScan(this.held) } : {}),
    };
    if (size === 0) this.memberRead();
  }

  private memberRead(): void {
    const member = this.member!;
    const { path, type, linkpath, data, onnx } = member;
    if (type === 'pax') {
      const { path, linkpath } = paxRecords(buffer(data!));
      if (path !== undefined) this.nextName = path;
      if (linkpath !== undefined) this.nextLinkpath = linkpath;
      this.held.release(member.cost);
    } else if (type === 'longname' || type === 'longlink') {
      if (type === 'longname') this.nextName = text(buffer(data!));
      else this.nextLinkpath = text(buffer(data!));
      this.held.release(member.cost);
    } else if (path !== undefined) {
      this.held.hold(path.length + (linkpath?.length ?? 0), path);
      onnx?.end();
      this.entries.push({
        path,
        type,
        ...(type === 'file' ? { size: member.size } : {}),
        ...(linkpath !== undefined ? { linkpath } : {}),
        ...(data ? { data } : {}),
        ...(onnx ? { onnx } : {}),
      });
    }
    if (member.padding === 0) this.member = undefined;
    else member.remaining = 0;
  }
}

/** A view of the bytes as a Buffer, without copying them. */
const buffer = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

function normalizeName(name: string): string | undefined {
  try {
    return normalizeEntryPath(name);
  } catch (error) {
    throw new BadRequestError((error as Error).message);
  }
}

/** A NUL-terminated header field. */
function text(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/**
 * A numeric header field: octal digits, NUL- or space-terminated, or big-endian base-256 when its
 * first byte has the high bit (GNU; a first byte of 0xff is a negative number). Anything else is not
 * a tar header: read as a size, a field that is no number would leave the parser going nowhere.
 */
function octal(field: Buffer): number {
  if (field[0]! & 0x80) {
    if (field[0] === 0xff) throw notTar('a numeric header field is negative');
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    if (!Number.isSafeInteger(value)) throw notTar('a numeric header field is too large');
    return value;
  }
  const digits = text(field).trim();
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw notTar('a numeric header field is not octal');
  return Number.parseInt(digits, 8);
}

const notTar = (why: string) => new BadRequestError(`the archive is not a tar file (${why})`);

/** The header checksum: the sum of its bytes with the checksum field read as spaces. */
function validChecksum(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === octal(block.subarray(148, 156));
}

/** The `path` and `linkpath` records of a pax extended header (`<length> <keyword>=<value>\n` records). */
function paxRecords(data: Buffer): { path?: string; linkpath?: string } {
  let offset = 0;
  const records: { path?: string; linkpath?: string } = {};
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number.parseInt(data.subarray(offset, space).toString('latin1'), 10);
    if (!Number.isSafeInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    const keyword = record.slice(0, equals);
    if (keyword === 'path' || keyword === 'linkpath') records[keyword] = record.slice(equals + 1);
    offset += length;
  }
  return records;
}
