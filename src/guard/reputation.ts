/**
 * Local reputation of the subjects that push to a region (author keys, client addresses), in the
 * spirit of gossipsub's peer scoring: decaying counters of what each subject's deltas turned out
 * to be, a score that weighs them (good behaviour earns a capped credit, bad behaviour an
 * uncapped penalty), and a budget factor that shrinks a subject's token budget while its score is
 * below a threshold.
 *
 * Pure: every call takes the caller's clock; no timers, no I/O. Region-local by design: it only
 * scales rate limits, so it never changes what a region stores for a valid delta beyond
 * throttling, and never feeds a replicated view. Bounded: at most `subjectsMax` subjects, the
 * least recently seen evicted first (see {@linkcode ReputationTable}).
 */

/** What one delta of a subject turned out to be. */
export type ReputationEvent =
  | "accepted"
  | "duplicate"
  | "invalid_signature"
  | "invalid_schema"
  | "rate_limited";

export const REPUTATION_EVENTS: readonly ReputationEvent[] = [
  "accepted",
  "duplicate",
  "invalid_signature",
  "invalid_schema",
  "rate_limited",
];

/** Counters halve every this many ms (exponential decay: old misdeeds fade). */
export const REPUTATION_HALF_LIFE_MS = 10 * 60_000;
/** Subjects one table remembers. */
export const REPUTATION_SUBJECTS_MAX = 10_000;
/** A subject whose score is below this is throttled. */
export const REPUTATION_THROTTLE_SCORE_BELOW = -20;
/** Share of the normal token budget (rate and burst) a throttled subject gets. */
export const REPUTATION_THROTTLED_BUDGET_FACTOR = 0.1;
/** Most score that accepted deltas can earn (so a long good record cannot buy a flood of bad). */
export const REPUTATION_CREDIT_MAX = 10;
/**
 * Oldest entries looked at when one must be evicted (the first with a score ≥ 0 goes, else the
 * least penalised). Bounded work, and a flood of fresh subjects cannot flush a penalised one out.
 */
export const REPUTATION_EVICTION_SCAN = 16;

/**
 * Score per (decayed) event. A duplicate costs nothing: retries are normal, and anyone can replay
 * an author's public deltas. Being rate limited costs a little, so that a subject ignoring
 * `Retry-After` ends up throttled, while one push over the limit does not.
 */
export const REPUTATION_WEIGHTS: Readonly<Record<ReputationEvent, number>> = {
  accepted: 0.05,
  duplicate: 0,
  invalid_signature: -1,
  invalid_schema: -1,
  rate_limited: -0.05,
};

if (REPUTATION_THROTTLED_BUDGET_FACTOR <= 0 || REPUTATION_THROTTLED_BUDGET_FACTOR > 1) {
  throw new Error("REPUTATION_THROTTLED_BUDGET_FACTOR must be in (0, 1]");
}
if (REPUTATION_THROTTLE_SCORE_BELOW >= 0) {
  throw new Error("REPUTATION_THROTTLE_SCORE_BELOW must be negative: a new subject scores 0");
}

/** The tunables of a reputation table; every field defaults to the constant above. */
export interface ReputationPolicy {
  readonly halfLifeMs: number;
  readonly subjectsMax: number;
  readonly throttleScoreBelow: number;
  readonly throttledBudgetFactor: number;
  readonly creditMax: number;
  readonly weights: Readonly<Record<ReputationEvent, number>>;
}

export const DEFAULT_REPUTATION_POLICY: ReputationPolicy = {
  halfLifeMs: REPUTATION_HALF_LIFE_MS,
  subjectsMax: REPUTATION_SUBJECTS_MAX,
  throttleScoreBelow: REPUTATION_THROTTLE_SCORE_BELOW,
  throttledBudgetFactor: REPUTATION_THROTTLED_BUDGET_FACTOR,
  creditMax: REPUTATION_CREDIT_MAX,
  weights: REPUTATION_WEIGHTS,
};

/** Decayed event counts of one subject as of `atMs`. */
export interface ReputationRecord {
  readonly counts: Readonly<Record<ReputationEvent, number>>;
  readonly atMs: number;
}

const ZERO: Readonly<Record<ReputationEvent, number>> = {
  accepted: 0,
  duplicate: 0,
  invalid_signature: 0,
  invalid_schema: 0,
  rate_limited: 0,
};

/** `record` decayed to `nowMs` (a clock that went back decays nothing). */
export function decayed(
  record: ReputationRecord,
  nowMs: number,
  halfLifeMs: number,
): ReputationRecord {
  if (nowMs <= record.atMs) return record;
  const factor = 2 ** (-(nowMs - record.atMs) / halfLifeMs);
  const counts = { ...record.counts };
  for (const event of REPUTATION_EVENTS) counts[event] *= factor;
  return { counts, atMs: nowMs };
}

/** `record` (null: a new subject) with `n` more `event`s at `nowMs`. */
export function withEvent(
  record: ReputationRecord | null,
  event: ReputationEvent,
  n: number,
  nowMs: number,
  halfLifeMs: number,
): ReputationRecord {
  const base = record === null ? { counts: ZERO, atMs: nowMs } : decayed(record, nowMs, halfLifeMs);
  return { counts: { ...base.counts, [event]: base.counts[event] + n }, atMs: base.atMs };
}

/** The score of decayed counts: capped credit for good events plus uncapped penalties. */
export function scoreOf(
  counts: Readonly<Record<ReputationEvent, number>>,
  policy: ReputationPolicy,
) {
  let credit = 0, penalty = 0;
  for (const event of REPUTATION_EVENTS) {
    const part = counts[event] * policy.weights[event];
    if (part > 0) credit += part;
    else penalty += part;
  }
  return Math.min(credit, policy.creditMax) + penalty;
}

/** Share of the normal budget a subject with `score` gets: 1, or the throttled factor. */
export function budgetFactorOf(score: number, policy: ReputationPolicy): number {
  return score < policy.throttleScoreBelow ? policy.throttledBudgetFactor : 1;
}

/**
 * Reputation records of many subjects, bounded. Map order is recency order (a touched entry is
 * moved to the end); when full, one of the least recently seen subjects is forgotten (`#evict`).
 */
export class ReputationTable {
  readonly policy: ReputationPolicy;
  readonly #records = new Map<string, ReputationRecord>();

  constructor(policy: Partial<ReputationPolicy> = {}) {
    this.policy = { ...DEFAULT_REPUTATION_POLICY, ...policy };
    if (!(this.policy.subjectsMax >= 1) || !(this.policy.halfLifeMs > 0)) {
      throw new RangeError(
        `Cannot create ReputationTable as 'subjectsMax' and 'halfLifeMs' must be positive: subjectsMax is ${this.policy.subjectsMax}, halfLifeMs is ${this.policy.halfLifeMs}`,
      );
    }
  }

  /** Subjects remembered. */
  get size(): number {
    return this.#records.size;
  }

  /** Adds `n` (default 1) `event`s of `subject` at `nowMs`. */
  record(subject: string, event: ReputationEvent, nowMs: number, n = 1): void {
    if (n <= 0) return;
    const current = this.#records.get(subject) ?? null;
    const next = withEvent(current, event, n, nowMs, this.policy.halfLifeMs);
    this.#records.delete(subject);
    if (current === null && this.#records.size >= this.policy.subjectsMax) this.#evict(nowMs);
    this.#records.set(subject, next);
  }

  /** Decayed counts of `subject` at `nowMs` (all 0 for an unknown subject). */
  counts(subject: string, nowMs: number): Readonly<Record<ReputationEvent, number>> {
    const record = this.#records.get(subject);
    return record === undefined ? ZERO : decayed(record, nowMs, this.policy.halfLifeMs).counts;
  }

  /** The score of `subject` at `nowMs`; 0 for an unknown subject. */
  score(subject: string, nowMs: number): number {
    return scoreOf(this.counts(subject, nowMs), this.policy);
  }

  /** Share of the normal token budget `subject` gets at `nowMs`. */
  budgetFactor(subject: string, nowMs: number): number {
    return budgetFactorOf(this.score(subject, nowMs), this.policy);
  }

  /**
   * Forgets the least recently seen subject with a score ≥ 0 among the oldest few (forgetting it
   * changes nothing: its budget is whole either way); when all of those are penalised, the least
   * penalised of them.
   */
  #evict(nowMs: number): void {
    let victim: string | undefined, best = -Infinity, seen = 0;
    for (const subject of this.#records.keys()) {
      const score = this.score(subject, nowMs);
      if (score >= 0) {
        victim = subject;
        break;
      }
      if (score > best) [victim, best] = [subject, score];
      if (++seen >= REPUTATION_EVICTION_SCAN) break;
    }
    if (victim !== undefined) this.#records.delete(victim);
  }
}
