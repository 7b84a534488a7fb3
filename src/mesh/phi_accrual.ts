/**
 * The phi accrual failure detector (Hayashibara et al., 2004), as Akka and Cassandra use it: it
 * keeps a bounded window of heartbeat inter-arrival times and turns the silence since the last
 * heartbeat into a suspicion level `phi = -log10(P(a heartbeat arrives later than now))`, with the
 * intervals modelled as a normal distribution. phi 1 means a 10% chance of a false suspicion,
 * phi 8 one in 10^8.
 *
 * The tail probability uses Akka's logistic approximation of the normal CDF (Bowling et al.,
 * 2009; absolute error below 1.4e-4), `P(X > t) ≈ 1 / (1 + e^k)` with
 * `k = y (1.5976 + 0.070566 y²)`, `y = (t - mean) / sd` — not the exact CDF. It is computed as
 * `log10(1 + e^k)` in an overflow-free form, so phi stays finite and keeps growing (about as
 * y³) however long the silence; a status page never shows `Infinity` once a peer was heard.
 *
 * With the defaults and 250 ms heartbeats of low jitter, phi crosses 8 about 760 ms after the
 * last heartbeat: mean 250 + pause 250 + ~5.2 × min sd 50 (see the test of that name).
 *
 * An interval longer than `sampleIntervalMaxFactor` × the expected interval is not a sample
 * (as in Cassandra): it is an outage — a partition, a paused peer, a peer that was not a
 * heartbeat target for a while — not the link's rhythm. Counting it would inflate the mean and
 * deviation for a whole window (25 s at the defaults), and the next real failure would be
 * noticed seconds late, in the unsafe direction. The silence still counts towards phi while it
 * lasts; only the learning skips it.
 *
 * Pure: the caller passes the time; there are no timers or clocks in here.
 */
import { z } from "zod";

/** Most inter-arrival samples one detector may keep (the window option's upper bound). */
export const PHI_WINDOW_SAMPLES_MAX = 1_000;
/** Default window: the last 100 intervals, 25 s of history at 250 ms heartbeats. */
export const PHI_WINDOW_SAMPLES_DEFAULT = 100;
/** Default suspicion threshold: at phi ≥ 8 a peer counts as unreachable (Akka's cluster value). */
export const PHI_THRESHOLD_DEFAULT = 8;
/** Default expected heartbeat interval, in ms: the mesh's heartbeat period. */
export const PHI_EXPECTED_INTERVAL_MS_DEFAULT = 250;
/** Default floor of the interval standard deviation, in ms. */
export const PHI_MIN_STD_DEVIATION_MS_DEFAULT = 50;
/** Default acceptable heartbeat pause, in ms: one lost heartbeat at 250 ms is not suspicious. */
export const PHI_ACCEPTABLE_PAUSE_MS_DEFAULT = 250;
/** Default bound on a learned interval, as a multiple of the expected interval. */
export const PHI_SAMPLE_INTERVAL_FACTOR_DEFAULT = 4;
/** Longest interval, pause or deviation an option may name, in ms (one hour). */
export const PHI_OPTION_MS_MAX = 3_600_000;

// The two seed samples of an empty window (mean ± mean/4) must fit in any window.
if (PHI_WINDOW_SAMPLES_DEFAULT < 2 || PHI_WINDOW_SAMPLES_DEFAULT > PHI_WINDOW_SAMPLES_MAX) {
  throw new Error("PHI_WINDOW_SAMPLES_DEFAULT must lie in [2, PHI_WINDOW_SAMPLES_MAX]");
}

const msOption = z.number().max(PHI_OPTION_MS_MAX);

export const phiAccrualOptionsSchema = z.strictObject({
  /**
   * Expected heartbeat interval, in ms: before real samples exist the window is seeded with
   * `mean ± mean/4` around it, as Akka's `first-heartbeat-estimate`. Default 250 (the mesh's
   * heartbeat period); set it to the heartbeat period in use.
   */
  expectedIntervalMs: msOption.positive().default(PHI_EXPECTED_INTERVAL_MS_DEFAULT),
  /** phi at or above which the peer is suspected. Default 8. */
  threshold: z.number().positive().default(PHI_THRESHOLD_DEFAULT),
  /** Inter-arrival samples kept; older ones fall out. Default 100, at most 1000. */
  windowSamples: z.number().int().min(2).max(PHI_WINDOW_SAMPLES_MAX).default(
    PHI_WINDOW_SAMPLES_DEFAULT,
  ),
  /**
   * Floor of the standard deviation, in ms, so that a very regular peer is not suspected for a
   * few ms of jitter (a near-zero deviation makes phi a step function). Default 50.
   */
  minStdDeviationMs: msOption.positive().default(PHI_MIN_STD_DEVIATION_MS_DEFAULT),
  /**
   * Silence tolerated on top of the mean before suspicion grows, in ms (GC pauses, one lost
   * heartbeat, a slow request). Added to the mean, as Akka does. Default 250.
   */
  acceptableHeartbeatPauseMs: msOption.min(0).default(PHI_ACCEPTABLE_PAUSE_MS_DEFAULT),
  /**
   * Intervals longer than this multiple of `expectedIntervalMs` are outages, not samples: they
   * update `lastSeenMs` but stay out of the window. Default 4 (1 s at 250 ms heartbeats).
   */
  sampleIntervalMaxFactor: z.number().min(1).max(1_000).default(PHI_SAMPLE_INTERVAL_FACTOR_DEFAULT),
});

/** Options as the caller writes them (every field optional). */
export type PhiAccrualOptions = z.input<typeof phiAccrualOptionsSchema>;
/** Options with defaults applied. */
export type PhiAccrualConfig = z.output<typeof phiAccrualOptionsSchema>;

/** Tracks one peer's heartbeats and reports how suspicious its silence is. */
export class PhiAccrualDetector {
  readonly config: Readonly<PhiAccrualConfig>;
  /** Ring buffer of inter-arrival times, in ms. */
  readonly #samples: Float64Array;
  #count = 0;
  #next = 0;
  #mean = 0;
  #stdDeviation = 0;
  #lastSeenMs: number | null = null;

  /** Throws a TypeError naming the field when an option is invalid. */
  constructor(options: PhiAccrualOptions = {}) {
    const parsed = phiAccrualOptionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new TypeError(
        `Cannot create PhiAccrualDetector as ${
          issue.path.join(".") || "options"
        } is invalid: ${issue.message}`,
      );
    }
    this.config = Object.freeze(parsed.data);
    this.#samples = new Float64Array(this.config.windowSamples);
    // Akka's first-heartbeat estimate: two samples around the expected interval, so phi is
    // meaningful after the first real heartbeat; real samples push them out of the window.
    const mean = this.config.expectedIntervalMs;
    this.#push(mean - mean / 4);
    this.#push(mean + mean / 4);
    this.#recompute();
  }

  /** When the last heartbeat arrived, in ms (the caller's clock); null before the first one. */
  get lastSeenMs(): number | null {
    return this.#lastSeenMs;
  }

  /** Samples in the window (the two seed samples count until pushed out). */
  get sampleCount(): number {
    return this.#count;
  }

  /** Mean inter-arrival time of the window, in ms. */
  get meanIntervalMs(): number {
    return this.#mean;
  }

  /** Standard deviation of the window's intervals, in ms, before the configured floor. */
  get stdDeviationMs(): number {
    return this.#stdDeviation;
  }

  /**
   * Records a heartbeat that arrived at `nowMs`. A time earlier than the last heartbeat (a clock
   * stepped back, or replies handled out of order) adds no sample, so a negative interval never
   * skews the window; `lastSeenMs` never moves backwards.
   */
  heartbeat(nowMs: number): void {
    if (!Number.isFinite(nowMs)) throw new RangeError(`heartbeat time must be finite: ${nowMs}`);
    const last = this.#lastSeenMs;
    if (last !== null) {
      if (nowMs < last) return;
      const interval = nowMs - last;
      if (interval <= this.config.sampleIntervalMaxFactor * this.config.expectedIntervalMs) {
        this.#push(interval);
        this.#recompute();
      }
    }
    this.#lastSeenMs = nowMs;
  }

  /**
   * Suspicion at `nowMs`: 0 right after a heartbeat, growing with the silence. Before any
   * heartbeat it is `Infinity` — a peer never heard from is not counted as reachable, so a region
   * that just started claims a minority until its peers answer (the safe side).
   */
  phi(nowMs: number): number {
    const last = this.#lastSeenMs;
    if (last === null) return Infinity;
    const sinceMs = Math.max(0, nowMs - last);
    const mean = this.#mean + this.config.acceptableHeartbeatPauseMs;
    const sd = Math.max(this.#stdDeviation, this.config.minStdDeviationMs);
    const y = (sinceMs - mean) / sd;
    const k = y * (1.5976 + 0.070566 * y * y);
    // log10(1 + e^k) without overflow: softplus(k) / ln 10.
    return (Math.max(k, 0) + Math.log1p(Math.exp(-Math.abs(k)))) / Math.LN10;
  }

  /** True while phi at `nowMs` is below the threshold (and a heartbeat was ever seen). */
  isAvailable(nowMs: number): boolean {
    return this.phi(nowMs) < this.config.threshold;
  }

  #push(intervalMs: number): void {
    this.#samples[this.#next] = intervalMs;
    this.#next = (this.#next + 1) % this.#samples.length;
    this.#count = Math.min(this.#count + 1, this.#samples.length);
  }

  // Recomputed from the window on each heartbeat (at most 1000 samples, a few times a second)
  // rather than kept as running sums, so no rounding drift accumulates over days.
  #recompute(): void {
    let sum = 0;
    for (let i = 0; i < this.#count; i++) sum += this.#samples[i];
    const mean = sum / this.#count;
    let squares = 0;
    for (let i = 0; i < this.#count; i++) squares += (this.#samples[i] - mean) ** 2;
    this.#mean = mean;
    this.#stdDeviation = Math.sqrt(squares / this.#count);
  }
}
