/**
 * JSON as Triton reads and writes it: standard JSON plus non-finite numbers as bare tokens, which
 * triton-inference-server/common's `TritonJson` parses and writes (`kParseNanAndInfFlag`,
 * `kWriteNanAndInfFlag` in `triton_json.h`, since 2022). rapidjson writes `NaN`, `Infinity` and
 * `-Infinity`, and reads those and `-NaN`, `Inf` and `-Inf` (`ParseNumber` in rapidjson's
 * `reader.h`). A model whose output holds NaN or an infinity answers a JSON output with those
 * tokens, which `JSON.parse` refuses; Triton's Python client reads and writes them.
 *
 * Both directions go through `JSON.parse` and `JSON.stringify` with each token standing in as a
 * random double (a sentinel): a body of a million tokens then costs what a body of a million
 * numbers does. A sentinel that the value itself holds would be taken for a token, so sentinels
 * are counted: more found than tokens put in (reading; a duplicate key may drop some), or other than
 * the non-finite numbers put in (writing), and new ones are drawn.
 */

type Kind = 'nan' | 'positive' | 'negative';
type Sentinels = Record<Kind, number>;
const WRITTEN: Record<Kind, string> = { nan: 'NaN', positive: 'Infinity', negative: '-Infinity' };
/** Draws of sentinels before giving up: each draw fails only if the value holds one of them. */
const DRAWS = 3;
/** A token rapidjson reads, matched where a scan stands on its first character. */
const TOKEN = /-?(?:NaN|Inf(?:inity)?)/y;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const codes = (chars: string) => new Set([...chars].map((c) => c.charCodeAt(0)));
/**
 * Where a value may stand: a token follows one of these (or the start) and is followed by one of
 * those (or the end). One run into a number (`1Inf`, `NaN5`) is left as it is, for `JSON.parse`
 * to refuse.
 */
const BEFORE_VALUE = codes(' \t\n\r,[:');
const AFTER_VALUE = codes(' \t\n\r,]}');

/**
 * Parses JSON that may carry Triton's non-finite tokens outside strings, as numbers. Standard JSON
 * takes `JSON.parse` alone; only text it refuses is scanned for the tokens. Throws SyntaxError as
 * `JSON.parse` does for anything else.
 */
export function parseTritonJson(text: string): unknown {
  return readTritonJson(text).json;
}

/**
 * `parseTritonJson`, saying whether the text held the tokens (`nonFinite`). A number literal too
 * large for a double (`1e309`) beside the tokens is refused, as rapidjson refuses it ("Number too
 * big to be stored in double"), so every non-finite number read this way is one of the tokens. A
 * refusal names positions in `text`, and tokens as written, never the numbers standing in for them.
 */
export function readTritonJson(
  text: string,
  /** The most tokens read; more throw TooManyTokensError, before the text is parsed. */
  maxTokens = Number.POSITIVE_INFINITY,
): { json: unknown; nonFinite: boolean } {
  try {
    return { json: JSON.parse(text), nonFinite: false };
  } catch (error) {
    if (!/NaN|Inf/.test(text)) throw error;
  }
  for (let draw = 0; draw < DRAWS; draw++) {
    const sentinels = drawSentinels();
    const replaced = replaceTokens(text, sentinels, maxTokens);
    // Held in a record, so that a document that is a token alone is revived like any other.
    let document: { json: unknown };
    try {
      document = { json: JSON.parse(replaced.text) };
    } catch (error) {
      throw inOriginalTerms(error as SyntaxError, replaced, text);
    }
    // Fewer found than put in: a duplicate key's later value replaced a token's (JSON.parse keeps
    // the last). More: the value holds a sentinel of its own, so draw again.
    if (revive(document, sentinels) <= replaced.tokens) return { ...document, nonFinite: true };
  }
  throw new SyntaxError('the non-finite numbers could not be told apart from the finite ones');
}

/** A text with its tokens replaced by sentinels, and where each replacement stands in it. */
interface Replaced {
  readonly text: string;
  readonly tokens: number;
  /** Each replacement's start and end in `text`, and how much longer `text` is after it. */
  readonly replacements: { readonly start: number; readonly end: number; readonly grown: number }[];
  readonly literals: Record<Kind, string>;
}

/**
 * One pass over the text: strings skipped whole (an unterminated one ends the scan), each token
 * where a value may stand replaced by its sentinel. Linear in the text, whatever it holds.
 */
function replaceTokens(text: string, sentinels: Sentinels, maxTokens: number): Replaced {
  const literals: Record<Kind, string> = {
    nan: String(sentinels.nan),
    positive: String(sentinels.positive),
    negative: String(sentinels.negative),
  };
  const parts: string[] = [];
  const replacements: { start: number; end: number; grown: number }[] = [];
  let copied = 0;
  let grown = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
      i++;
      continue;
    }
    TOKEN.lastIndex = i;
    const match = c === 0x2d || c === 0x4e || c === 0x49 ? TOKEN.exec(text) : null;
    const end = match ? i + match[0].length : i;
    if (
      match &&
      (i === 0 || BEFORE_VALUE.has(text.charCodeAt(i - 1))) &&
      (end === text.length || AFTER_VALUE.has(text.charCodeAt(end)))
    ) {
      if (replacements.length >= maxTokens) throw new TooManyTokensError(maxTokens);
      const token = match[0];
      const literal = literals[token.endsWith('N') ? 'nan' : token.startsWith('-') ? 'negative' : 'positive'];
      parts.push(text.slice(copied, i), literal);
      const start = i + grown;
      grown += literal.length - token.length;
      replacements.push({ start, end: start + literal.length, grown });
      copied = end;
      i = end;
      continue;
    }
    i++;
  }
  parts.push(text.slice(copied));
  return { text: parts.join(''), tokens: replacements.length, replacements, literals };
}

/** `JSON.parse`'s refusal of the replaced text, in terms of the text as it was sent. */
function inOriginalTerms(error: SyntaxError, replaced: Replaced, text: string): SyntaxError {
  let message = error.message;
  for (const kind of Object.keys(replaced.literals) as Kind[]) {
    message = message.replaceAll(replaced.literals[kind], WRITTEN[kind]);
  }
  message = message.replace(/position (\d+)(?: \(line \d+ column \d+\))?/, (whole, at: string) => {
    const position = originalPosition(Number(at), replaced);
    if (!whole.includes('line')) return `position ${position}`;
    const before = text.slice(0, position);
    const line = before.split('\n').length;
    return `position ${position} (line ${line} column ${position - before.lastIndexOf('\n')})`;
  });
  return new SyntaxError(message);
}

/** Where a position of the replaced text was in the original: inside a sentinel, at its token. */
function originalPosition(at: number, replaced: Replaced): number {
  let shift = 0;
  for (const { start, end, grown } of replaced.replacements) {
    if (at < start) break;
    if (at < end) return start - shift;
    shift = grown;
  }
  return at - shift;
}

/** A text holding more non-finite tokens than its reader takes. */
export class TooManyTokensError extends Error {
  constructor(readonly maxTokens: number) {
    super(`more than ${maxTokens} NaN or Infinity tokens`);
  }
}

/**
 * `JSON.stringify`, but a non-finite number is written as Triton writes it (`NaN`, `Infinity`,
 * `-Infinity`) instead of `null`. Values without one cost one walk over their numbers. The value
 * is changed while it is written and restored before this returns.
 */
export function stringifyTritonJson(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return WRITTEN[kindOf(value)];
  const spots = new Spots();
  spots.collect(value);
  if (spots.count === 0) return JSON.stringify(value);
  for (let draw = 0; draw < DRAWS; draw++) {
    const sentinels = drawSentinels();
    let text: string;
    try {
      spots.fill((v) => sentinels[kindOf(v)]);
      text = JSON.stringify(value);
    } finally {
      spots.fill((v) => v);
    }
    const written = new Map(
      (Object.keys(sentinels) as Kind[]).map((kind) => [String(sentinels[kind]), WRITTEN[kind]]),
    );
    // A sentinel as a whole value, never inside another number or a string's own text.
    const literal = new RegExp(
      `(?<=[[,:])(?:${[...written.keys()].join('|').replaceAll('.', '\\.')})(?=[,\\]}])`,
      'g',
    );
    let found = 0;
    const out = text.replace(literal, (match) => {
      found++;
      return written.get(match)!;
    });
    if (found === spots.count) return out;
  }
  throw new Error('the non-finite numbers could not be told apart from the finite ones');
}

/** The non-finite numbers of a value and where each is held, in parallel arrays (there may be millions). */
class Spots {
  private readonly holders: Record<string | number, unknown>[] = [];
  private readonly keys: (string | number)[] = [];
  private readonly values: number[] = [];

  get count(): number {
    return this.values.length;
  }

  collect(value: unknown): void {
    forEachNumber(value, (holder, key, v) => {
      if (Number.isFinite(v)) return;
      this.holders.push(holder);
      this.keys.push(key);
      this.values.push(v);
    });
  }

  /** Puts `of(value)` where each non-finite value is held. */
  fill(of: (value: number) => number): void {
    for (let i = 0; i < this.values.length; i++) {
      this.holders[i]![this.keys[i]!] = of(this.values[i]!);
    }
  }
}

function kindOf(value: number): Kind {
  if (Number.isNaN(value)) return 'nan';
  return value > 0 ? 'positive' : 'negative';
}

/** Three distinct doubles in [1, 2), each written back by `String` as `JSON.parse` reads it. */
function drawSentinels(): Sentinels {
  for (;;) {
    const [nan, positive, negative] = [1 + Math.random(), 1 + Math.random(), 1 + Math.random()] as const;
    if (nan !== positive && positive !== negative && nan !== negative) return { nan, positive, negative };
  }
}

/**
 * Puts each token's value where its sentinel is; returns how many it put. A non-finite number
 * found there is a literal too large for a double, which rapidjson refuses.
 */
function revive(value: unknown, sentinels: Sentinels): number {
  let count = 0;
  const swap = (v: number): number | undefined => {
    if (v === sentinels.nan) return Number.NaN;
    if (v === sentinels.positive) return Number.POSITIVE_INFINITY;
    if (v === sentinels.negative) return Number.NEGATIVE_INFINITY;
    if (!Number.isFinite(v)) throw new SyntaxError('Number too big to be stored in double');
    return undefined;
  };
  forEachNumber(value, (holder, key, v) => {
    const token = swap(v);
    if (token === undefined) return;
    holder[key] = token;
    count++;
  });
  return count;
}

/** Calls `visit` for every number the value holds (not the value itself), with where it is held. */
function forEachNumber(
  value: unknown,
  visit: (holder: Record<string | number, unknown>, key: string | number, v: number) => void,
): void {
  if (typeof value !== 'object' || value === null) return;
  const holder = value as Record<string | number, unknown>;
  const keys = Array.isArray(value) ? undefined : Object.keys(value);
  const length = keys ? keys.length : (value as unknown[]).length;
  for (let i = 0; i < length; i++) {
    const key = keys ? keys[i]! : i;
    const v = holder[key];
    if (typeof v === 'number') visit(holder, key, v);
    else forEachNumber(v, visit);
  }
}
