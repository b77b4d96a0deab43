/**
 * What the local Lambda functions print, line by line, for whoever wants to read it (the terminal,
 * a local console, tests). Lines that are Powertools EMF documents carry them parsed in `emf`.
 */

/** One line a function's container wrote to its stdout or stderr. */
export interface FunctionOutputLine {
  /** The function whose container printed the line. */
  readonly functionName: string;
  /** The line without its line break. */
  readonly line: string;
  /** When the line reached this process, in epoch milliseconds. */
  readonly at: number;
  /** The line parsed, when it is an Embedded Metric Format document (it has an `_aws` key). */
  readonly emf?: Record<string, unknown>;
}

/** Fans function output out to its subscribers; a listener that throws does not affect the others. */
export class FunctionOutputBus {
  readonly #listeners = new Set<(line: FunctionOutputLine) => void>();

  /** Calls `listener` with every line published from now on; returns the unsubscribe function. */
  subscribe(listener: (line: FunctionOutputLine) => void): () => void {
    // Wrapped so that subscribing the same function twice gives two independent subscriptions.
    const entry = (line: FunctionOutputLine) => listener(line);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  publish(line: FunctionOutputLine): void {
    for (const listener of this.#listeners) {
      try {
        listener(line);
      } catch (error) {
        console.error('function output listener failed', error);
      }
    }
  }
}

/** The EMF document a line holds, if it is one: a JSON object with an `_aws` key. */
export function emfOf(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{') || !line.includes('"_aws"')) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && '_aws' in parsed)
      return parsed as Record<string, unknown>;
  } catch {
    // not JSON after all: a plain line
  }
  return undefined;
}
