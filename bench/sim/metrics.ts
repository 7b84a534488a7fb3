/**
 * What the scale simulation measures, per delta and per run.
 *
 * A **round** is one sequential message step on a delta's way from its author to the last region
 * that stores it: the agent's push (each attempt counts), each region-to-region send of it (each
 * attempt of a fan-out step counts; a step that failed and was sent again is two rounds), and for
 * a delta moved by anti-entropy, the session's reconciliation round trips plus the fetch or push
 * that carried it. It is the unit epidemic analyses count in (a round there is one push per
 * informed node), so the seeds' targets and Serf's model compare with it. A delta's rounds to
 * converge are the most rounds any region's copy took; its time to converge is from the author's
 * first send to the moment the last honest region stored it.
 */

export class Metrics {
  /** Regions holding each delta. */
  readonly holders: Uint8Array;
  /** Most rounds any region's copy of each delta took (0: stored nowhere). */
  readonly rounds: Uint8Array;
  /** When the author first sent each delta, ms (NaN: not yet). */
  readonly sentMs: Float64Array;
  /** When the last region stored each delta, ms (NaN: not every region holds it). */
  readonly convergedMs: Float64Array;
  /** Deltas stored by at least one region, and by every region. */
  stored = 0;
  converged = 0;
  /** Agents' pushes by outcome (per attempt that reached a region). */
  readonly outcomes = { accepted: 0, duplicate: 0, quarantined: 0, rejected: 0, retries: 0 };
  /** Copies stored by region, by how they came: agent push, fan-out, anti-entropy. */
  readonly arrivals = { agent: 0, fanout: 0, sync: 0 };
  /** Deltas a region received that it already held (fan-out or anti-entropy). */
  duplicates = 0;
  readonly antiEntropy = {
    sessions: 0,
    failed: 0,
    deferred: 0,
    rounds: 0,
    roundsMax: 0,
    frameBytes: 0,
    pulled: 0,
    pushed: 0,
  };
  /** Fan-out steps that failed (lost message, timeout, partition) and were sent again later. */
  fanOutFailures = 0;
  /** Most log entries a region's fan-out to one target was behind, same zone and across zones. */
  readonly backlogMax = { zone: 0, crossZone: 0 };

  constructor(readonly deltas: number, readonly regions: number) {
    this.holders = new Uint8Array(deltas);
    this.rounds = new Uint8Array(deltas);
    this.sentMs = new Float64Array(deltas).fill(NaN);
    this.convergedMs = new Float64Array(deltas).fill(NaN);
  }

  /** The author sent delta `d` (the first send counts). */
  sent(d: number, nowMs: number): void {
    if (Number.isNaN(this.sentMs[d])) this.sentMs[d] = nowMs;
  }

  /** One more region stored delta `d`, after `rounds` rounds. */
  storedAt(d: number, rounds: number, nowMs: number): void {
    if (rounds > this.rounds[d]) this.rounds[d] = Math.min(255, rounds);
    const holders = ++this.holders[d];
    if (holders === 1) this.stored++;
    if (holders === this.regions) {
      this.convergedMs[d] = nowMs;
      this.converged++;
    }
  }

  /** Whether every delta any region stored is held by every region. */
  get allConverged(): boolean {
    return this.converged === this.stored;
  }
}

/** Percentiles of `values` (NaNs dropped): p50, p99, max; zeros when empty. */
export function percentiles(values: ArrayLike<number>): { p50: number; p99: number; max: number } {
  const kept = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) kept[n++] = values[i];
  const sorted = kept.subarray(0, n).sort();
  if (n === 0) return { p50: 0, p99: 0, max: 0 };
  const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))];
  return { p50: at(0.5), p99: at(0.99), max: sorted[n - 1] };
}
