/**
 * Proposals and votes (docs/protocol.md §24): both are ordinary signed deltas in system channels,
 * so they replicate, reconcile and prove equivocation like any delta.
 * - A **proposal** is a `_proposals` delta with exactly one op, `set {key: "<author>:<seq>",
 *   value: <proposal>}` keyed by its own author and seq, so nobody writes another's proposal and
 *   an author's proposals never share a key. Its id is the delta's id.
 * - A **vote** on proposal `p` is a `_votes:<p>` delta with exactly one op, `set {key: <author>,
 *   value: {option, deadline, grace}}`: a voter writes only its own ballot, and repeats the
 *   proposal's `deadline` and `grace` so that a region can refuse a late ballot from an agent
 *   without holding the proposal (the tally ignores a ballot whose copy differs).
 * Pure; never throws.
 */
import { z } from "zod";
import type { Op } from "./delta.ts";
import { CHANNEL_PATTERN, ID_PATTERN_SOURCE, INTEGER_MAX } from "./limits.ts";
import { INBOX_CHANNEL_PREFIX } from "./message_kinds.ts";

/** The system channel that holds proposals. */
export const PROPOSALS_CHANNEL = "_proposals";
/** The channel prefix of ballots: the votes on proposal `p` are kept in `_votes:<p>`. */
export const VOTES_CHANNEL_PREFIX = "_votes:";
/** Longest `title`, in UTF-16 code units. */
export const PROPOSAL_TITLE_CHARS_MAX = 200;
/** Longest `body`, in UTF-16 code units. */
export const PROPOSAL_BODY_CHARS_MAX = 4_096;
/** Fewest and most options of a proposal. */
export const PROPOSAL_OPTIONS_MIN = 2;
export const PROPOSAL_OPTIONS_MAX = 16;
/** Longest option, in UTF-16 code units. */
export const PROPOSAL_OPTION_CHARS_MAX = 64;
/** Most agent ids an explicit `eligible` list may name (the delta body bound allows ~350). */
export const PROPOSAL_AGENTS_MAX = 256;
/** Shortest and longest time from a proposal's `ts` to its `deadline`, in ms. */
export const PROPOSAL_DEADLINE_MS_MIN = 1_000;
export const PROPOSAL_DEADLINE_MS_MAX = 30 * 86_400_000;
/** Default, shortest and longest `grace`: ms after the deadline a ballot may still be pushed. */
export const PROPOSAL_GRACE_MS_DEFAULT = 30_000;
export const PROPOSAL_GRACE_MS_MIN = 1_000;
export const PROPOSAL_GRACE_MS_MAX = 3_600_000;
/** Largest threshold denominator. */
export const PROPOSAL_THRESHOLD_DEN_MAX = 1_000;
/** The default threshold: two thirds of the eligible weight. */
export const PROPOSAL_THRESHOLD_DEFAULT: readonly [number, number] = [2, 3];

const ID = new RegExp(`^${ID_PATTERN_SOURCE}$`);
const text = (min: number, max: number) =>
  z.string().min(min).max(max).refine((s) => s.isWellFormed() && !s.includes("\u0000"), {
    message: "must be well-formed text without NUL",
  });
const agentId = z.string().regex(ID, "must be an agent id");
const term = text(1, 64);

/** Who may vote: a fixed list, or the registry as of the proposal's `ts` (skill and/or tag). */
const eligibleSchema = z.union([
  z.strictObject({
    agents: z.array(agentId).min(1).max(PROPOSAL_AGENTS_MAX)
      .refine((a) => new Set(a).size === a.length, "must not repeat an agent"),
  }),
  z.strictObject({ skill: term, tag: term.optional() }),
  z.strictObject({ tag: term }),
]);

/** How much a ballot weighs: 1 each, or `1 + ⌊log2(1 + n)⌋` for n deltas in a channel. */
const weightsSchema = z.union([
  z.literal("equal"),
  z.strictObject({
    activity: z.string().regex(CHANNEL_PATTERN, "activity must be a channel name")
      // A tally is public: weights over a mailbox would tell anyone who wrote to whom (§23.7).
      .refine((c) => !c.startsWith(INBOX_CHANNEL_PREFIX), "activity must not be a mailbox"),
  }),
]);

const thresholdSchema = z.tuple([
  z.number().int().min(1).max(PROPOSAL_THRESHOLD_DEN_MAX),
  z.number().int().min(1).max(PROPOSAL_THRESHOLD_DEN_MAX),
]).refine(([num, den]) => 2 * num > den && num <= den, {
  message: "threshold [num, den] must be above one half and at most one",
});

/** The strict schema of a proposal (the value of its `set` op). */
export const proposalSchema = z.strictObject({
  title: text(1, PROPOSAL_TITLE_CHARS_MAX),
  body: text(0, PROPOSAL_BODY_CHARS_MAX).optional(),
  options: z.array(text(1, PROPOSAL_OPTION_CHARS_MAX))
    .min(PROPOSAL_OPTIONS_MIN).max(PROPOSAL_OPTIONS_MAX)
    .refine((o) => new Set(o).size === o.length, "options must be distinct"),
  deadline: z.number().int().min(0).max(INTEGER_MAX),
  grace: z.number().int().min(PROPOSAL_GRACE_MS_MIN).max(PROPOSAL_GRACE_MS_MAX).optional(),
  eligible: eligibleSchema,
  weights: weightsSchema.optional(),
  threshold: thresholdSchema.optional(),
});

export type ProposalValue = z.infer<typeof proposalSchema>;
export type Eligibility = ProposalValue["eligible"];
export type Weights = NonNullable<ProposalValue["weights"]>;

/** A proposal with its defaults filled in, and where it came from. */
export interface Proposal {
  readonly id: string;
  readonly author: string;
  readonly seq: number;
  readonly ts: number;
  readonly title: string;
  readonly body: string;
  readonly options: readonly string[];
  readonly deadline: number;
  readonly grace: number;
  readonly eligible: Eligibility;
  readonly weights: Weights;
  readonly threshold: readonly [number, number];
}

/** The strict schema of a ballot (the value of a vote's `set` op). */
export const ballotSchema = z.strictObject({
  option: text(1, PROPOSAL_OPTION_CHARS_MAX),
  deadline: z.number().int().min(0).max(INTEGER_MAX),
  grace: z.number().int().min(PROPOSAL_GRACE_MS_MIN).max(PROPOSAL_GRACE_MS_MAX),
});

export type Ballot = z.infer<typeof ballotSchema>;

/** The channel of the votes on proposal `id`. */
export function votesChannel(proposalId: string): string {
  return VOTES_CHANNEL_PREFIX + proposalId;
}

/** The `_proposals` key of an author's proposal number `seq`. */
export function proposalKey(author: string, seq: number): string {
  return `${author}:${seq}`;
}

const firstIssue = (error: z.ZodError) => {
  const issue = error.issues[0];
  return `${issue.path.join(".") || "value"}: ${issue.message}`;
};

/** Why a proposal value does not hold for a delta signed at `ts`, or null. */
export function proposalValueProblem(value: unknown, ts: number): string | null {
  const checked = proposalSchema.safeParse(value);
  if (!checked.success) return firstIssue(checked.error);
  const { deadline } = checked.data;
  if (deadline < ts + PROPOSAL_DEADLINE_MS_MIN || deadline > ts + PROPOSAL_DEADLINE_MS_MAX) {
    return `deadline must be ${PROPOSAL_DEADLINE_MS_MIN} ms to ${PROPOSAL_DEADLINE_MS_MAX} ms ` +
      "after the delta's ts";
  }
  return null;
}

/**
 * Why the ops of a `_proposals` delta are not one proposal of its author, or null: exactly one
 * op, `set {key: "<author>:<seq>", value: <proposal>}` with a valid proposal.
 */
export function proposalOpsProblem(
  author: string,
  seq: number,
  ts: number,
  ops: readonly Op[],
): string | null {
  if (ops.length !== 1 || ops[0].op !== "set") {
    return `a ${PROPOSALS_CHANNEL} delta carries exactly one set op`;
  }
  const op = ops[0];
  if (op.key !== proposalKey(author, seq)) {
    return "ops.0: key must be <author>:<seq> of the delta itself";
  }
  const problem = proposalValueProblem(op.value, ts);
  return problem === null ? null : `ops.0.value.${problem}`;
}

/**
 * Why the ops of a `_votes:<proposal>` delta are not one ballot of its author, or null: the
 * channel names a proposal id, and the delta carries exactly one op, `set {key: <author>, value:
 * {option, deadline, grace}}`.
 */
export function voteOpsProblem(channel: string, author: string, ops: readonly Op[]): string | null {
  if (!ID.test(channel.slice(VOTES_CHANNEL_PREFIX.length))) {
    return `a ${VOTES_CHANNEL_PREFIX} channel is ${VOTES_CHANNEL_PREFIX}<proposal id>`;
  }
  if (ops.length !== 1 || ops[0].op !== "set") return "a vote carries exactly one set op";
  const op = ops[0];
  if (op.key !== author) return "ops.0: key must be the delta's author: one votes only for oneself";
  const checked = ballotSchema.safeParse(op.value);
  return checked.success ? null : `ops.0.value.${firstIssue(checked.error)}`;
}

/** When agents may no longer push a ballot: the proposal's deadline plus its grace. */
export function ballotCloses(ballot: Pick<Ballot, "deadline" | "grace">): number {
  return ballot.deadline + ballot.grace;
}

/**
 * The proposal a stored `_proposals` delta holds, with defaults filled in; null when it is not
 * one (it passed ingest, so only a corrupt store gives null).
 */
export function proposalOf(
  stored: { readonly id: string; readonly body: string },
): Proposal | null {
  let parsed: { author: string; seq: number; ts: number; ops: Op[] };
  try {
    parsed = JSON.parse(stored.body);
  } catch {
    return null;
  }
  const { author, seq, ts, ops } = parsed;
  if (proposalOpsProblem(author, seq, ts, ops) !== null) return null;
  const value = proposalSchema.parse((ops[0] as { value: unknown }).value);
  return {
    id: stored.id,
    author,
    seq,
    ts,
    title: value.title,
    body: value.body ?? "",
    options: value.options,
    deadline: value.deadline,
    grace: value.grace ?? PROPOSAL_GRACE_MS_DEFAULT,
    eligible: value.eligible,
    weights: value.weights ?? "equal",
    threshold: value.threshold ?? PROPOSAL_THRESHOLD_DEFAULT,
  };
}
