/**
 * Reading an input file's lines by byte ranges, so that neither the fan-out nor a worker ever holds
 * more of a file than one range and one line, and parsing each line into an item.
 */
import { GetObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import type { ModelVersion } from '../../contracts/registry-schemas';
import { InvalidInferenceRequestError } from '../inference/protocol';
import { BatchItemSchema } from './api-schemas';
import { type ChunkLimits, footprintOf, type ItemFootprint, type StoredItem, storedItem } from './chunking';
import type { InputBucket } from './input-files';
import type { JobInput } from './input-schemas';

/** Bytes read per ranged GetObject. */
export const RANGE_BYTES = 4 * 1024 * 1024;
/**
 * The longest line an input file may hold. Longer lines fail as items without being kept: the
 * stored form of an item is at most MAX_CHUNK_BYTES, and a line's JSON is at most a few times that.
 */
export const MAX_LINE_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);
const decoder = new TextDecoder('utf-8', { fatal: true });

/** One line of an input file: bytes `start` to `end` (exclusive, its newline included). */
export interface Line {
  readonly start: number;
  readonly end: number;
  /** 1-based. */
  readonly number: number;
  /** The line's bytes without its newline; absent when the line is longer than MAX_LINE_BYTES. */
  readonly bytes?: Buffer;
}

/** The input file changed since the job was submitted (S3's 412 on `If-Match`). */
export class InputChangedError extends Error {
  override readonly name = 'InputChangedError';
}

/** Bytes `start` to `end` (exclusive) of an input, read only if it is still the file the job named. */
export async function readRange(
  target: InputBucket,
  input: JobInput,
  start: number,
  end: number,
): Promise<Buffer> {
  try {
    const answer = await target.s3.send(
      new GetObjectCommand({
        Bucket: target.bucket,
        Key: input.key,
        Range: `bytes=${start}-${end - 1}`,
        IfMatch: input.etag,
      }),
    );
    const body = Buffer.from(await answer.Body!.transformToByteArray());
    if (body.length !== end - start) {
      throw new Error(`a range of ${input.key} returned ${body.length} bytes, not ${end - start}`);
    }
    return body;
  } catch (error) {
    if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 412) {
      throw new InputChangedError(`input '${input.inputId}' changed since the job was submitted`);
    }
    throw error;
  }
}

/**
 * The lines of bytes `from` to `to` of an input, `from` being a line's start (numbered `line`),
 * read `rangeBytes` at a time. A line may cross any number of range boundaries; a last line
 * without a newline is a line too.
 */
export async function* linesOf(
  read: (start: number, end: number) => Promise<Buffer>,
  from: number,
  to: number,
  line: number,
  rangeBytes: number = RANGE_BYTES,
): AsyncGenerator<Line> {
  let number = line;
  // The start of the line being read, and its bytes so far (undefined once it is too long to keep).
  let start = from;
  let pending: Buffer | undefined = EMPTY;
  for (let at = from; at < to; ) {
    const end = Math.min(to, at + rangeBytes);
    const range = await read(at, end);
    let cursor = 0;
    for (let newline = range.indexOf(NEWLINE); newline !== -1; newline = range.indexOf(NEWLINE, cursor)) {
      const line = range.subarray(cursor, newline);
      // A view of the range, copied only when the line began in an earlier range.
      const bytes = pending && (pending.length === 0 ? line : Buffer.concat([pending, line]));
      const lineEnd = at + newline + 1;
      yield bytes && bytes.length <= MAX_LINE_BYTES
        ? { start, end: lineEnd, number, bytes }
        : { start, end: lineEnd, number };
      number++;
      start = lineEnd;
      pending = EMPTY;
      cursor = newline + 1;
    }
    if (pending) {
      pending = Buffer.concat([pending, range.subarray(cursor)]);
      if (pending.length > MAX_LINE_BYTES) pending = undefined;
    }
    at = end;
  }
  if (start < to) {
    yield {
      start,
      end: to,
      number,
      ...(pending && pending.length <= MAX_LINE_BYTES ? { bytes: pending } : {}),
    };
  }
}

/** Up to a number of consecutive items of an input, counted but not read (bytes `start` to `end`). */
export interface ItemRun {
  readonly start: number;
  readonly end: number;
  /** The line of its first item, and of its last (1-based). */
  readonly line: number;
  readonly lastLine: number;
  readonly count: number;
}

const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0d;

/**
 * The items of bytes `from` to `to` of an input, `from` being a line's start (numbered `line`), in
 * runs of at most `maxItems` lines that are not blank (as `isBlank` has it: a line too long to keep
 * is never blank), each run from its first item's start to its last item's end. Nothing is parsed
 * or kept: a line's bytes are looked at only until one is not a space, so this counts a cancelled
 * job's remaining lines many times faster than `linesOf` reads them.
 */
export async function* itemRunsOf(
  read: (start: number, end: number) => Promise<Buffer>,
  from: number,
  to: number,
  line: number,
  maxItems: number,
  rangeBytes: number = RANGE_BYTES,
): AsyncGenerator<ItemRun> {
  let number = line;
  let lineStart = from;
  // Whether the line being read has a byte other than a space so far.
  let filled = false;
  let run: { start: number; end: number; line: number; lastLine: number; count: number } | undefined;
  const item = (end: number) => {
    run ??= { start: lineStart, end, line: number, lastLine: number, count: 0 };
    run.end = end;
    run.lastLine = number;
    run.count++;
  };
  for (let at = from; at < to; ) {
    const range = await read(at, Math.min(to, at + rangeBytes));
    let cursor = 0;
    while (cursor < range.length) {
      const newline = range.indexOf(NEWLINE, cursor);
      const stop = newline === -1 ? range.length : newline;
      for (let i = cursor; !filled && i < stop; i++) filled = !isSpace(range[i]!);
      if (newline === -1) break;
      if (filled || at + newline - lineStart > MAX_LINE_BYTES) item(at + newline + 1);
      number++;
      lineStart = at + newline + 1;
      filled = false;
      cursor = newline + 1;
      if (run?.count === maxItems) {
        yield run;
        run = undefined;
      }
    }
    at += range.length;
  }
  if (lineStart < to && (filled || to - lineStart > MAX_LINE_BYTES)) item(to);
  if (run) yield run;
}

/** A line that holds no item: empty, or only spaces (a file's last newline leaves none). */
export function isBlank(line: Line): boolean {
  return line.bytes?.every(isSpace) ?? false;
}

/**
 * What the scan plans a line by, without checking it: the worker checks every line it reads and
 * fails the bad ones by number. Its bytes, its id and its inputs' shapes; a line that is not JSON or
 * has no list of inputs takes no room, since it will fail and a failure's result is small.
 */
export function planningFootprint(line: Line, limits: ChunkLimits): ItemFootprint {
  const none = { bytes: 0, result: 0 };
  if (!line.bytes) return none;
  if (limits.fixedInputShapes && !mayHaveId(line.bytes)) {
    // With every input's shape fixed, parsing would only find the id: a line without one takes its
    // bytes and the result bound (a bad line then takes room it will not need, which is safe).
    return { bytes: line.bytes.length, result: limits.resultBytes ?? 0 };
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(line.bytes));
  } catch {
    return none;
  }
  const inputs = (json as { inputs?: unknown } | null)?.inputs;
  const tensorLike = (input: unknown) => Array.isArray((input as { shape?: unknown } | null)?.shape);
  if (!Array.isArray(inputs) || !inputs.every(tensorLike)) return none;
  return footprintOf(json as StoredItem, limits, line.bytes.length);
}

const ID_KEY = Buffer.from('"id"');
const BACKSLASH = 0x5c;

/** Whether a line may hold an `id`: it has the key, or an escape that could spell it. */
function mayHaveId(bytes: Buffer): boolean {
  return bytes.includes(ID_KEY) || bytes.includes(BACKSLASH);
}

/** An item of an input file, or why its line is not one. */
export type ParsedLine = { readonly item: StoredItem } | { readonly error: string; readonly id?: string };

/**
 * A line as an item: a JSON object like an item of a submission's `items` (`id`, `inputs`), checked
 * against the version's signature as the submission checks its items.
 */
export function parseLine(version: ModelVersion, line: Line): ParsedLine {
  const where = `line ${line.number}`;
  if (!line.bytes) return { error: `${where}: longer than ${MAX_LINE_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(line.bytes));
  } catch (error) {
    return { error: `${where}: not a JSON line (${(error as Error).message})` };
  }
  const parsed = BatchItemSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return { error: `${where}: not an item (${issues})` };
  }
  const id = parsed.data.id === undefined ? {} : { id: parsed.data.id };
  try {
    // Sized by its line, as the scan planned it: printing 512 floats again cost more than parsing them.
    return { item: storedItem(version, parsed.data, line.bytes.length) };
  } catch (error) {
    if (error instanceof InvalidInferenceRequestError) return { error: `${where}: ${error.message}`, ...id };
    throw error;
  }
}
