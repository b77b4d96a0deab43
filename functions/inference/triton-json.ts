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
 * numbers does. A sentinel that the value itself holds would be taken for a token: the count of
 * sentinels found must equal the count of tokens put in, else new sentinels are drawn.
 */

type Kind = 'nan' | 'positive' | 'negative';
type Sentinels = Record<Kind, number>;
const WRITTEN: Record<Kind, string> = { nan: 'NaN', positive: 'Infinity', negative: '-Infinity' };
/** Draws of sentinels before giving up: each draw fails only if the value holds one of them. */
const DRAWS = 3;
/**
 * A string, skipped whole (escapes included), or a token rapidjson reads where a value may stand:
 * one run into a number (`1Inf`, `NaN5`) is left as it is, for `JSON.parse` to refuse.
 */
const STRING_OR_TOKEN = /"[^"\\]*(?:\\[\s\S][^"\\]*)*"|(?<=^|[\s,[:])-?(?:NaN|Inf(?:inity)?)(?=[\s,\]}]|$)/g;

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
 * big to be stored in double"), so every non-finite number read this way is one of the tokens.
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
    const literals = {
      nan: String(sentinels.nan),
      positive: String(sentinels.positive),
      negative: String(sentinels.negative),
    };
    let tokens = 0;
    const replaced = text.replace(STRING_OR_TOKEN, (match) => {
      if (match.startsWith('"')) return match;
      if (++tokens > maxTokens) throw new TooManyTokensError(maxTokens);
      return literals[match.endsWith('N') ? 'nan' : match.startsWith('-') ? 'negative' : 'positive'];
    });
    // Held in a record, so that a document that is a token alone is revived like any other.
    const document = { json: JSON.parse(replaced) as unknown };
    if (revive(document, sentinels) === tokens) return { ...document, nonFinite: true };
  }
  throw new SyntaxError('the non-finite numbers could not be told apart from the finite ones');
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
  private readonly holders: (Record<string, unknown> | unknown[])[] = [];
  private readonly keys: (string | number)[] = [];
  private readonly values: number[] = [];

  get count(): number {
    return this.values.length;
  }

  collect(value: unknown): void {
    if (typeof value !== 'object' || value === null) return;
    const holder = value as Record<string, unknown> | unknown[];
    const keys: (string | number)[] = Array.isArray(value) ? [] : Object.keys(value);
    const length = Array.isArray(value) ? value.length : keys.length;
    for (let i = 0; i < length; i++) {
      const key = Array.isArray(value) ? i : keys[i]!;
      const v = (holder as Record<string | number, unknown>)[key];
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) {
          this.holders.push(holder);
          this.keys.push(key);
          this.values.push(v);
        }
      } else this.collect(v);
    }
  }

  /** Puts `of(value)` where each non-finite value is held. */
  fill(of: (value: number) => number): void {
    for (let i = 0; i < this.values.length; i++) {
      (this.holders[i] as Record<string | number, unknown>)[this.keys[i]!] = of(this.values[i]!);
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
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v = node[i];
        if (typeof v === 'number') {
          const token = swap(v);
          if (token !== undefined) {
            node[i] = token;
            count++;
          }
        } else if (typeof v === 'object' && v !== null) visit(v);
      }
    } else if (typeof node === 'object' && node !== null) {
      const record = node as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        const v = record[key];
        if (typeof v === 'number') {
          const token = swap(v);
          if (token !== undefined) {
            record[key] = token;
            count++;
          }
        } else if (typeof v === 'object' && v !== null) visit(v);
      }
    }
  };
  visit(value);
  return count;
}
