/**
 * PN-counter over a delta set: increments and decrements are kept apart and summed exactly
 * (bigint), so the total never loses precision and never depends on the order of addition.
 * Each delta is applied once because the channel state dedupes deltas by id.
 */
export class PnCounter {
  #positive: bigint;
  #negative: bigint;

  /** A counter whose increments sum to `positive` and decrements to `negative` (both ≥ 0). */
  constructor(positive = 0n, negative = 0n) {
    if (positive < 0n || negative < 0n) {
      throw new RangeError("Cannot start a counter from a negative sum of increments");
    }
    this.#positive = positive;
    this.#negative = negative;
  }

  /** The sums of increments and of decrements (as a positive number), kept apart. */
  get sums(): [bigint, bigint] {
    return [this.#positive, this.#negative];
  }

  add(by: number): void {
    if (by >= 0) this.#positive += BigInt(by);
    else this.#negative += BigInt(-by);
  }

  get value(): bigint {
    return this.#positive - this.#negative;
  }
}
