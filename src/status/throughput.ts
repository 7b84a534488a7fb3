/**
 * Deltas this instance stored per second, from agents (pushes here) and from peers (relayed or
 * repaired), over the last {@linkcode THROUGHPUT_SECONDS} seconds: one counter per second in a
 * ring. Pure: times are passed in.
 */

/** Seconds of history kept (and reported as the series). */
export const THROUGHPUT_SECONDS = 60;
/** Seconds the reported rate averages over (the last complete ones). */
export const THROUGHPUT_RATE_SECONDS = 5;

if (THROUGHPUT_RATE_SECONDS >= THROUGHPUT_SECONDS) {
  throw new Error("THROUGHPUT_RATE_SECONDS must be below THROUGHPUT_SECONDS");
}

/** Where stored deltas came from. */
export type ThroughputSource = "agents" | "peers";

export interface ThroughputFigures {
  /** Deltas stored per second, averaged over the last THROUGHPUT_RATE_SECONDS whole seconds. */
  readonly deltasPerSecond: number;
  /** The same, by source. */
  readonly agentsPerSecond: number;
  readonly peersPerSecond: number;
  /** Start of the series' first second, in ms since the epoch. */
  readonly fromMs: number;
  /** Deltas stored in each of the last THROUGHPUT_SECONDS seconds, oldest first. */
  readonly agents: number[];
  readonly peers: number[];
}

export class ThroughputMeter {
  readonly #agents = new Float64Array(THROUGHPUT_SECONDS);
  readonly #peers = new Float64Array(THROUGHPUT_SECONDS);
  /** The second (ms / 1000, floored) the ring's newest slot counts. */
  #second: number | null = null;

  /** Counts `n` deltas stored from `source` at `nowMs`. */
  add(source: ThroughputSource, n: number, nowMs: number): void {
    if (n <= 0 || !Number.isFinite(nowMs)) return;
    this.#advance(Math.floor(nowMs / 1000));
    const slot = this.#second! % THROUGHPUT_SECONDS;
    (source === "agents" ? this.#agents : this.#peers)[slot] += n;
  }

  /** The figures at `nowMs`: the running second is the series' last point. */
  figures(nowMs: number): ThroughputFigures {
    this.#advance(Math.floor(nowMs / 1000));
    const now = this.#second!; // not earlier than the newest count, if the clock stepped back
    const agents: number[] = [], peers: number[] = [];
    for (let s = now - THROUGHPUT_SECONDS + 1; s <= now; s++) {
      const slot = ((s % THROUGHPUT_SECONDS) + THROUGHPUT_SECONDS) % THROUGHPUT_SECONDS;
      agents.push(this.#agents[slot]);
      peers.push(this.#peers[slot]);
    }
    // The running second is partial: the rate reads the whole seconds before it.
    const rate = (series: number[]) => {
      const whole = series.slice(-1 - THROUGHPUT_RATE_SECONDS, -1);
      return Math.round(whole.reduce((a, b) => a + b, 0) / THROUGHPUT_RATE_SECONDS * 10) / 10;
    };
    const agentsPerSecond = rate(agents), peersPerSecond = rate(peers);
    return {
      deltasPerSecond: Math.round((agentsPerSecond + peersPerSecond) * 10) / 10,
      agentsPerSecond,
      peersPerSecond,
      fromMs: (now - THROUGHPUT_SECONDS + 1) * 1000,
      agents,
      peers,
    };
  }

  /** Moves the ring to `second`, zeroing the seconds it skips; a clock stepped back adds there. */
  #advance(second: number): void {
    if (this.#second === null) {
      this.#second = second;
      return;
    }
    if (second <= this.#second) return;
    const skipped = Math.min(second - this.#second, THROUGHPUT_SECONDS);
    for (let i = 1; i <= skipped; i++) {
      const slot = (this.#second + i) % THROUGHPUT_SECONDS;
      this.#agents[slot] = 0;
      this.#peers[slot] = 0;
    }
    this.#second = second;
  }
}
