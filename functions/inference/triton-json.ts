/**
 * JSON as Triton reads and writes it: standard JSON plus the bare tokens `NaN`, `Infinity` and
 * `-Infinity`, which triton-inference-server/common's `TritonJson` parses and writes
 * (`kParseNanAndInfFlag`, `kWriteNanAndInfFlag` in `triton_json.h`, since 2022). A model whose
 * output holds NaN or an infinity answers a JSON output with those tokens, which `JSON.parse`
 * refuses; its clients (Triton's Python client reads with Python's json or rapidjson) accept them.
 */
import { randomUUID } from 'node:crypto';

const TOKENS = ['NaN', 'Infinity', '-Infinity'] as const;
const VALUES: Record<(typeof TOKENS)[number], number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

/**
 * Parses JSON that may carry Triton's non-finite tokens outside strings, as numbers. Standard JSON
 * takes `JSON.parse` alone; only text it refuses is scanned for the tokens. Throws SyntaxError as
 * `JSON.parse` does for anything else.
 */
export function parseTritonJson(text: string): unknown {
  return readTritonJson(text).json;
}

/** `parseTritonJson`, saying whether the text held the tokens (`nonFinite`). */
export function readTritonJson(text: string): { json: unknown; nonFinite: boolean } {
  try {
    return { json: JSON.parse(text), nonFinite: false };
  } catch (error) {
    if (!/NaN|Infinity/.test(text)) throw error;
  }
  return { json: parseWithNonFinite(text), nonFinite: true };
}

/**
 * `parseTritonJson` for text `JSON.parse` has refused already: only the tokens' scan is left. A
 * number literal too large for a double (`1e309`) is refused here, as rapidjson refuses it ("Number
 * too big to be stored in double"), so every non-finite number in the result is one of the tokens.
 */
function parseWithNonFinite(text: string): unknown {
  const marker = markerAbsentFrom(text);
  const parsed = JSON.parse(replaceTokens(text, (token) => JSON.stringify(marker + token)));
  return revive(parsed, marker);
}

/**
 * `JSON.stringify`, but a non-finite number is written as Triton writes it (`NaN`, `Infinity`,
 * `-Infinity`) instead of `null`. Values without one cost one walk over their numbers.
 */
export function stringifyTritonJson(value: unknown): string {
  if (!hasNonFinite(value)) return JSON.stringify(value);
  const marker = randomUUID();
  const text = JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? marker + tokenOf(v) : v,
  );
  return text.replace(new RegExp(`"${marker}(NaN|-?Infinity)"`, 'g'), '$1');
}

/** Whether a parsed value holds a number that JSON cannot write. */
function hasNonFinite(value: unknown): boolean {
  if (typeof value === 'number') return !Number.isFinite(value);
  if (Array.isArray(value)) return value.some(hasNonFinite);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(hasNonFinite);
  return false;
}

function tokenOf(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

/** A string found nowhere in the text, to stand for a token while `JSON.parse` reads it. */
function markerAbsentFrom(text: string): string {
  for (;;) {
    const marker = `${randomUUID()}:`;
    if (!text.includes(marker)) return marker;
  }
}

/** The text with each token outside a string replaced; strings and everything else kept as written. */
function replaceTokens(text: string, replace: (token: (typeof TOKENS)[number]) => string): string {
  let out = '';
  let copied = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      // Skip the string, escapes included.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      continue;
    }
    if (c !== 'N' && c !== 'I' && c !== '-') continue;
    const token = TOKENS.find((t) => text.startsWith(t, i));
    if (token === undefined) continue;
    out += text.slice(copied, i) + replace(token);
    i += token.length - 1;
    copied = i + 1;
  }
  return out + text.slice(copied);
}

function revive(value: unknown, marker: string): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new SyntaxError('Number too big to be stored in double');
  }
  if (typeof value === 'string' && value.startsWith(marker)) {
    return VALUES[value.slice(marker.length) as (typeof TOKENS)[number]] ?? value;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], marker);
    return value;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) (value as Record<string, unknown>)[key] = revive(v, marker);
  }
  return value;
}
