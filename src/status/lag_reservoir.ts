/**
 * Propagation lag per peer region, kept small in memory: for each region deltas arrive from, a
 * ring of the last {@linkcode LAG_SAMPLES_MAX} arrivals (arrival time and lag), read as
 * percentiles over the ones younger than {@linkcode LAG_WINDOW_MS}. Lag is the region's clock at
 * arrival minus the delta's signed `ts`: the whole way from the author's clock, through every hop,
 * to this region's store (author clocks ahead of ours make it 0, never negative).
 *
 * Bounded: one ring per peer of a topology (at most {@linkcode LAG_PEERS_MAX}), fixed size each.
 * Pure: times are passed in.
 */

/** Arrivals kept per peer region. */
export const LAG_SAMPLES_MAX = 512;
/** Age beyond which an arrival no longer counts towards the percentiles, in ms. */
export const LAG_WINDOW_MS = 60_000;
/** Peer regions tracked at once; arrivals from more are not recorded. */
export const LAG_PEERS_MAX = 256;

/** Lag percentiles of one peer's recent arrivals, in ms. */
export interface LagFigures {
  /** Arrivals in the window (at most LAG_SAMPLES_MAX). */
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

class Ring {
  readonly atMs = new Float64Array(LAG_SAMPLES_MAX);
  readonly lagMs = new Float64Array(LAG_SAMPLES_MAX);
  count = 0;
  next = 0;

  push(atMs: number, lagMs: number): void {
    this.atMs[this.next] = atMs;
    this.lagMs[this.next] = lagMs;
    this.next = (this.next + 1) % LAG_SAMPLES_MAX;
    this.count = Math.min(this.count + 1, LAG_SAMPLES_MAX);
  }
}

/** The value at quantile `q` of ascending `sorted` (nearest rank). */
function quantile(sorted: Float64Array, q: number): number {
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export class LagReservoir {
  readonly #rings = new Map<string, Ring>();

  /** Records that a delta signed at `tsMs` arrived from `peer` at `nowMs`. */
  record(peer: string, tsMs: number, nowMs: number): void {
    if (!Number.isFinite(tsMs) || !Number.isFinite(nowMs)) return;
    let ring = this.#rings.get(peer);
    if (ring === undefined) {
      if (this.#rings.size >= LAG_PEERS_MAX) return;
      this.#rings.set(peer, ring = new Ring());
    }
    ring.push(nowMs, Math.max(0, nowMs - tsMs));
  }

  /** The percentiles of `peer`'s arrivals in the window ending at `nowMs`; null when none. */
  figures(peer: string, nowMs: number): LagFigures | null {
    const ring = this.#rings.get(peer);
    if (ring === undefined) return null;
    const lags: number[] = [];
    for (let i = 0; i < ring.count; i++) {
      if (nowMs - ring.atMs[i] <= LAG_WINDOW_MS) lags.push(ring.lagMs[i]);
    }
    if (lags.length === 0) return null;
    const sorted = Float64Array.from(lags).sort();
    const round = (ms: number) => Math.round(ms);
    return {
      count: sorted.length,
      p50Ms: round(quantile(sorted, 0.5)),
      p90Ms: round(quantile(sorted, 0.9)),
      p99Ms: round(quantile(sorted, 0.99)),
      maxMs: round(sorted[sorted.length - 1]),
    };
  }
}
