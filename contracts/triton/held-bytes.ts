/**
 * What the archive check holds in memory, counted, so that an archive of any content is checked in
 * bounded memory: past a limit the check refuses the archive, naming the limit, instead of holding more.
 */
import { MAX_HELD_BYTES, MAX_HELD_ITEM_BYTES } from '../model-store';
import { ModelConfigError } from './model-config';

/** An archive the check cannot read within its memory limits. */
export class HoldLimitError extends ModelConfigError {}

/**
 * What each held item costs beyond its bytes (an entry with its scan, a map entry): counting it keeps
 * many tiny items (members with no data, one-byte names) within the limit too.
 */
const ITEM_OVERHEAD_BYTES = 256;

export class HeldBytes {
  #held = 0;

  /**
   * Counts an item of `bytes` about to be held, `weight` times for an item that takes more once
   * decoded; returns what to `release` when it is let go.
   */
  hold(bytes: number, what: string, itemLimit = MAX_HELD_ITEM_BYTES, weight = 1): number {
    if (bytes > itemLimit) {
      throw new HoldLimitError(`${what} is ${bytes} bytes, over the ${itemLimit} bytes the check reads`);
    }
    const cost = bytes * weight + ITEM_OVERHEAD_BYTES;
    if (this.#held + cost > MAX_HELD_BYTES) {
      throw new HoldLimitError(
        `the check would hold more than ${MAX_HELD_BYTES} bytes of paths, configs and graph descriptions (at ${what})`,
      );
    }
    this.#held += cost;
    return cost;
  }

  release(cost: number): void {
    this.#held -= cost;
  }
}
