/**
 * PN-counter over a delta set: increments and decrements are kept apart and summed exactly
 * (bigint), so the total never loses precision and never depends on the order of addition.
 * Each delta is applied once because the channel state dedupes deltas by id.
 */
export class PnCounter {
  #positive = 0n;
  #negative = 0n;

  add(by: number): void {
    if (by >= 0) this.#positive += BigInt(by);
    else this.#negative += BigInt(-by);
  }

  get value(): bigint {
    return this.#positive - this.#negative;
  }
}
