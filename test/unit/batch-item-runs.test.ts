import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBlank, itemRunsOf, type Line, linesOf, MAX_LINE_BYTES } from '../../functions/batch/input-lines';

const reader = (file: Buffer) => async (start: number, end: number) => file.subarray(start, end);

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** What the runs must be: `linesOf`'s lines that are not blank, in groups of `maxItems`. */
async function expectedRuns(file: Buffer, from: number, line: number, maxItems: number, rangeBytes: number) {
  const items = (await collect(linesOf(reader(file), from, file.length, line, rangeBytes))).filter(
    (l: Line) => !isBlank(l),
  );
  const runs = [];
  for (let i = 0; i < items.length; i += maxItems) {
    const group = items.slice(i, i + maxItems);
    runs.push({
      start: group[0]!.start,
      end: group.at(-1)!.end,
      line: group[0]!.number,
      lastLine: group.at(-1)!.number,
      count: group.length,
    });
  }
  return runs;
}

describe('itemRunsOf: counting the items of an input without reading them', () => {
  const lineText = fc.oneof(
    fc.constantFrom('', ' ', '\t', '\r', ' \t\r ', '{"inputs":[]}', '  x', 'not json', ' {"id":"a"} '),
    fc.string({ maxLength: 12 }).map((s) => s.replaceAll('\n', ' ')),
  );

  it('finds the same items, in the same places, as reading every line', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(lineText, { maxLength: 30 }),
        fc.boolean(),
        fc.nat(),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 6 }),
        async (lines, trailingNewline, skip, rangeBytes, maxItems) => {
          const file = Buffer.from(lines.join('\n') + (trailingNewline && lines.length > 0 ? '\n' : ''));
          // Start at a line's start, as a resumed scan does.
          const skipped = lines.length === 0 ? 0 : skip % lines.length;
          const from = lines.slice(0, skipped).reduce((at, l) => at + Buffer.byteLength(l) + 1, 0);
          const runs = await collect(
            itemRunsOf(reader(file), from, file.length, skipped + 1, maxItems, rangeBytes),
          );
          expect(runs).toEqual(await expectedRuns(file, from, skipped + 1, maxItems, rangeBytes));
        },
      ),
    );
  });

  it('counts a line too long to keep as an item, even of spaces, as reading it does', async () => {
    const file = Buffer.from(`a\n${' '.repeat(MAX_LINE_BYTES + 1)}\n \nb`);
    const runs = await collect(itemRunsOf(reader(file), 0, file.length, 1, 10, 64 * 1024));
    expect(runs).toEqual(await expectedRuns(file, 0, 1, 10, 64 * 1024));
    expect(runs).toEqual([{ start: 0, end: file.length, line: 1, lastLine: 4, count: 3 }]);
  });
});
