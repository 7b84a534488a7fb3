/**
 * Hybrid logical clock for delta stamps: `ts` follows wall time, `lc` breaks ties so that an
 * agent's stamps strictly increase even when the wall clock stalls or steps back, and
 * `observe()` moves the clock past stamps seen from others (so "later" causally means larger).
 */
import { HLC_COUNTER_MAX } from "../protocol/limits.ts";

export interface HlcStamp {
  readonly ts: number;
  readonly lc: number;
}

export class HybridClock {
  #ts = 0;
  #lc = 0;
  readonly #wall: () => number;

  constructor(wall: () => number = Date.now) {
    this.#wall = wall;
  }

  /** The next stamp, strictly greater than every stamp issued or observed before. */
  next(): HlcStamp {
    const wall = this.#wall();
    if (wall > this.#ts) {
      this.#ts = wall;
      this.#lc = 0;
    } else if (this.#lc < HLC_COUNTER_MAX) {
      this.#lc++;
    } else {
      this.#ts++; // counter exhausted within one ms: borrow the next millisecond
      this.#lc = 0;
    }
    return { ts: this.#ts, lc: this.#lc };
  }

  /** The `ts` the next stamp will carry at least, without issuing one. */
  peek(): number {
    return Math.max(this.#wall(), this.#ts);
  }

  /** Moves the clock past a stamp seen on another agent's delta. */
  observe(stamp: HlcStamp): void {
    if (stamp.ts > this.#ts || (stamp.ts === this.#ts && stamp.lc > this.#lc)) {
      this.#ts = stamp.ts;
      this.#lc = stamp.lc;
    }
  }
}
