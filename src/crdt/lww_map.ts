/** Last-writer-wins map: each key holds the value (or deletion) with the greatest stamp. */
import type { OpValue } from "../protocol/delta.ts";
import { compareStamps, type Stamp } from "./stamp.ts";

interface Entry {
  readonly stamp: Stamp;
  /** `undefined` marks a deletion (a tombstone that still competes by stamp). */
  readonly value: OpValue | undefined;
}

export class LwwMap {
  readonly #entries = new Map<string, Entry>();

  /** Writes `value` at `key` if `stamp` beats the current entry; `undefined` deletes. */
  apply(key: string, stamp: Stamp, value: OpValue | undefined): void {
    const current = this.#entries.get(key);
    if (current === undefined || compareStamps(stamp, current.stamp) > 0) {
      this.#entries.set(key, { stamp, value });
    }
  }

  /** Keys held, deletions included. */
  get size(): number {
    return this.#entries.size;
  }

  /** Every key held with its winning stamp and value (`undefined`: deleted), in no order. */
  *held(): IterableIterator<[string, Stamp, OpValue | undefined]> {
    for (const [key, entry] of this.#entries) yield [key, entry.stamp, entry.value];
  }

  /** The live value at `key`, or undefined when absent or deleted. */
  get(key: string): OpValue | undefined {
    return this.#entries.get(key)?.value;
  }

  /** Live entries sorted by key (JavaScript string order). */
  entries(): [string, OpValue][] {
    const live: [string, OpValue][] = [];
    for (const [key, entry] of this.#entries) {
      if (entry.value !== undefined) live.push([key, entry.value]);
    }
    return live.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}
