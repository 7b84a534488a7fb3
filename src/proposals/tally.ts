/**
 * The tally of a proposal: a pure, deterministic fold of replicated data only — the proposal, the
 * ballots stored in its `_votes:` channel, the quarantined authors (proven equivocators) and the
 * electorate fixed at the proposal's creation — so that every region holding the same deltas
 * reports the same figures and the same outcome (docs/protocol.md §24.4).
 *
 * Weights are integers and the threshold a fraction `[num, den]`, so the comparison
 * `weight × den ≥ num × eligible` is exact in every runtime.
 */
import type { Ballot, Proposal } from "../protocol/proposal.ts";

/** After `deadline + grace`, how long a region waits for ballots in flight before it decides. */
export const DECIDE_MARGIN_MS = 5_000;

/** One stored ballot: who cast it, in which delta, and what it says. */
export interface BallotRecord extends Ballot {
  readonly voter: string;
  readonly id: string;
  readonly seq: number;
  readonly ts: number;
}

/** Why a voter's ballot does not count (or null when it does). */
export type BallotStatus =
  | "counted"
  /** The voter is proven to have equivocated: its weight stays in the electorate, unused. */
  | "quarantined"
  /** The voter is not in the electorate. */
  | "not_eligible"
  /** The ballot names no option of the proposal: the voter's weight is spoiled. */
  | "not_an_option";

/** Who may vote, with what weight: fixed at the proposal's creation. */
export interface Electorate {
  /** The voter's weight, 0 when not eligible. */
  weightOf(voter: string): number;
  /** The sum of every eligible agent's weight (quarantined ones included). */
  readonly total: number;
  /** How many agents are eligible. */
  readonly size: number;
}

export type ProposalState = "open" | "closing" | "decided" | "void";

export interface Tally {
  readonly state: ProposalState;
  /** The winning option or `no_quorum` once decided; null before. */
  readonly outcome: string | null;
  /** The option that holds the threshold with the ballots held now, or null. */
  readonly leading: string | null;
  /** Counted weight per option, in the proposal's order. */
  readonly options: readonly { readonly option: string; readonly weight: number }[];
  readonly eligible: { readonly agents: number; readonly weight: number };
  /** The weight an option needs: ⌈num × eligible weight / den⌉ (and at least 1). */
  readonly needed: number;
  /** Weight of counted ballots, of ballots naming no option, and of quarantined voters. */
  readonly cast: number;
  readonly spoiled: number;
  readonly excluded: number;
  readonly voters: number;
}

/**
 * Whether `candidate` replaces `current` as a voter's ballot: only ballots signed by the deadline
 * that repeat the proposal's deadline and grace count, and of those the highest seq (then the
 * larger delta id, so that even an equivocation is folded alike in any order). Order-free.
 */
export function supersedes(
  proposal: Pick<Proposal, "deadline" | "grace">,
  candidate: BallotRecord,
  current: BallotRecord | undefined,
): boolean {
  if (!inTime(proposal, candidate)) return false;
  if (current === undefined) return true;
  if (candidate.seq !== current.seq) return candidate.seq > current.seq;
  return candidate.id > current.id;
}

/** Whether a ballot was signed by the deadline and repeats the proposal's deadline and grace. */
export function inTime(proposal: Pick<Proposal, "deadline" | "grace">, b: BallotRecord): boolean {
  return b.ts <= proposal.deadline && b.deadline === proposal.deadline &&
    b.grace === proposal.grace;
}

/** The status of a voter's counted ballot. */
export function ballotStatus(
  proposal: Pick<Proposal, "options">,
  ballot: BallotRecord,
  electorate: Electorate,
  quarantined: ReadonlySet<string>,
): BallotStatus {
  if (electorate.weightOf(ballot.voter) === 0) return "not_eligible";
  if (quarantined.has(ballot.voter)) return "quarantined";
  return proposal.options.includes(ballot.option) ? "counted" : "not_an_option";
}

/** The proposal's state at region time `nowMs`. */
export function stateAt(
  proposal: Pick<Proposal, "author" | "deadline" | "grace">,
  quarantined: ReadonlySet<string>,
  nowMs: number,
  settled = true,
): ProposalState {
  if (quarantined.has(proposal.author)) return "void";
  if (nowMs < proposal.deadline) return "open";
  const decides = proposal.deadline + proposal.grace + DECIDE_MARGIN_MS;
  return nowMs >= decides && settled ? "decided" : "closing";
}

/** The weight an option needs out of `eligible`: ⌈num × eligible / den⌉, at least 1. */
export function neededWeight(threshold: readonly [number, number], eligible: number): number {
  const [num, den] = threshold;
  return Math.max(1, Math.ceil((num * eligible) / den));
}

/**
 * The tally of `proposal` from each voter's ballot (as chosen by `supersedes`), at region time
 * `nowMs`. `settled` false holds a proposal in `closing` (the region is cut off from a peer).
 */
export function tally(
  proposal: Proposal,
  ballots: Iterable<BallotRecord>,
  electorate: Electorate,
  quarantined: ReadonlySet<string>,
  nowMs: number,
  settled = true,
): Tally {
  const weights = new Map(proposal.options.map((o) => [o, 0]));
  let cast = 0, spoiled = 0, excluded = 0, voters = 0;
  for (const ballot of ballots) {
    const weight = electorate.weightOf(ballot.voter);
    const status = ballotStatus(proposal, ballot, electorate, quarantined);
    if (status === "not_eligible") continue;
    voters++;
    if (status === "quarantined") excluded += weight;
    else if (status === "not_an_option") spoiled += weight;
    else {
      weights.set(ballot.option, weights.get(ballot.option)! + weight);
      cast += weight;
    }
  }
  const needed = neededWeight(proposal.threshold, electorate.total);
  // A threshold above one half leaves at most one option holding it.
  const leading = [...weights].find(([, w]) => electorate.total > 0 && w >= needed)?.[0] ?? null;
  const state = stateAt(proposal, quarantined, nowMs, settled);
  return {
    state,
    outcome: state === "decided" ? leading ?? "no_quorum" : null,
    leading,
    options: [...weights].map(([option, weight]) => ({ option, weight })),
    eligible: { agents: electorate.size, weight: electorate.total },
    needed,
    cast,
    spoiled,
    excluded,
    voters,
  };
}

/** A voter's weight from its activity: `1 + ⌊log2(1 + n)⌋` for n deltas, exactly (bit length). */
export function activityWeight(n: number): number {
  return (n + 1).toString(2).length;
}
