/**
 * Reads a protobuf message handed over in chunks, holding none of it but the length-delimited fields
 * its visitor asks for: a message of any size (an ONNX model's weights) is read past in the memory
 * of those fields. The wire format is that of protobuf.dev/programming-guides/encoding: a tag varint
 * (field number << 3 | wire type), then a varint, 8 or 4 bytes, a length-prefixed value, or a group
 * up to its end tag. Errors read as `BinaryReader`'s of @bufbuild/protobuf.
 */
import { WireType } from '@bufbuild/protobuf/wire';

/** What to do with a length-delimited field: read it as a message of a scope, receive its bytes, or skip it. */
export type FieldAction<Scope> = { readonly descend: Scope } | 'hold' | 'skip';

export interface ProtobufVisitor<Scope> {
  /** Decides for a length-delimited field of `length` bytes in a message of `scope`. */
  field(scope: Scope, field: number, length: number): FieldAction<Scope>;
  /** The bytes of a field `field` answered 'hold'. */
  held(scope: Scope, field: number, bytes: Uint8Array): void;
  /** A message opened by 'descend' has been read to its end. */
  closed(scope: Scope): void;
}

interface Frame<Scope> {
  /** Undefined in a group, all of which is skipped. */
  readonly scope?: Scope;
  /** The offset where the message ends. */
  readonly end: number;
  readonly group?: number;
}

const MAX_FIELD_NUMBER = 2 ** 29 - 1;
const MAX_VARINT_BYTES = 10;

export class ProtobufScan<Scope> {
  readonly #visitor: ProtobufVisitor<Scope>;
  readonly #frames: Frame<Scope>[];
  #offset = 0;
  /** The varint being read, and what it is. */
  #varint = 0;
  #varintBytes = 0;
  #next: typeof TAG | { readonly read: 'value' } | { readonly read: 'length'; readonly field: number } = TAG;
  #skip = 0;
  #hold?: { readonly scope: Scope; readonly field: number; readonly bytes: Uint8Array; filled: number };

  constructor(root: Scope, visitor: ProtobufVisitor<Scope>) {
    this.#visitor = visitor;
    this.#frames = [{ scope: root, end: Number.POSITIVE_INFINITY }];
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      const hold = this.#hold;
      if (hold) {
        const n = Math.min(hold.bytes.length - hold.filled, chunk.length - i);
        hold.bytes.set(chunk.subarray(i, i + n), hold.filled);
        hold.filled += n;
        i += n;
        this.#offset += n;
        if (hold.filled === hold.bytes.length) this.#release();
        continue;
      }
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
        this.#offset += n;
        this.#closeFrames();
        continue;
      }
      const byte = chunk[i++]!;
      this.#offset++;
      this.#varint += (byte & 0x7f) * 2 ** (7 * this.#varintBytes++);
      if (byte & 0x80) {
        if (this.#varintBytes === MAX_VARINT_BYTES) throw new Error('invalid varint');
        continue;
      }
      const value = this.#varint;
      this.#varint = 0;
      this.#varintBytes = 0;
      this.#read(value);
      this.#closeFrames();
    }
  }

  /** The message has been handed over whole. */
  end(): void {
    if (
      this.#next !== TAG ||
      this.#varintBytes > 0 ||
      this.#skip > 0 ||
      this.#hold ||
      this.#frames.length > 1
    ) {
      throw new RangeError('premature EOF');
    }
  }

  #read(value: number): void {
    const next = this.#next;
    this.#next = TAG;
    if (next.read === 'value') return;
    const frame = this.#frames.at(-1)!;
    if (next.read === 'tag') {
      const field = Math.floor(value / 8);
      const wireType = value % 8;
      if (field < 1 || field > MAX_FIELD_NUMBER || wireType > WireType.Bit32) {
        throw new Error(`illegal tag: field no ${field} wire type ${wireType}`);
      }
      if (wireType === WireType.Varint) this.#next = { read: 'value' };
      else if (wireType === WireType.Bit64) this.#skipBytes(8);
      else if (wireType === WireType.Bit32) this.#skipBytes(4);
      else if (wireType === WireType.LengthDelimited) this.#next = { read: 'length', field };
      else if (wireType === WireType.StartGroup) this.#frames.push({ end: frame.end, group: field });
      else if (frame.group !== field) throw new Error('invalid end group tag');
      else this.#frames.pop();
      return;
    }
    this.#within(value);
    const action = frame.scope === undefined ? 'skip' : this.#visitor.field(frame.scope, next.field, value);
    if (action === 'skip') this.#skip = value;
    else if (action === 'hold') {
      this.#hold = { scope: frame.scope!, field: next.field, bytes: new Uint8Array(value), filled: 0 };
      if (value === 0) this.#release();
    } else this.#frames.push({ scope: action.descend, end: this.#offset + value });
  }

  /** Checks that the next `bytes` lie inside the open message. */
  #within(bytes: number): void {
    if (this.#offset + bytes > this.#frames.at(-1)!.end) throw new RangeError('premature EOF');
  }

  #skipBytes(bytes: number): void {
    this.#within(bytes);
    this.#skip = bytes;
  }

  #release(): void {
    const hold = this.#hold!;
    this.#hold = undefined;
    this.#visitor.held(hold.scope, hold.field, hold.bytes);
    this.#closeFrames();
  }

  /** Closes the messages that end here, between two fields; a group still open at its message's end is cut short. */
  #closeFrames(): void {
    if (this.#next !== TAG || this.#skip > 0 || this.#hold) return;
    for (let frame = this.#frames.at(-1)!; frame.end <= this.#offset; frame = this.#frames.at(-1)!) {
      if (frame.end < this.#offset || frame.group !== undefined) throw new RangeError('premature EOF');
      this.#frames.pop();
      this.#visitor.closed(frame.scope!);
    }
  }
}

const TAG = { read: 'tag' } as const;
