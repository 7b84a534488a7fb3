/**
 * Proposals and votes from the agent's side (docs/protocol.md §24): sign a proposal (a
 * `_proposals` delta keyed `<author>:<seq>`) or a ballot (a `_votes:<proposal>` delta keyed by the
 * voter), push them as deltas, and read a region's tally. `MeshClient.proposal/proposals` call
 * the readers; `Agent` signs.
 */
import {
  type Ballot,
  type Eligibility,
  PROPOSAL_GRACE_MS_DEFAULT,
  proposalKey,
  PROPOSALS_CHANNEL,
  type ProposalValue,
  proposalValueProblem,
  votesChannel,
  type Weights,
} from "../protocol/proposal.ts";
import { decodeBase64Url } from "../protocol/base64url.ts";
import { deltaId, type OpValue, signedMessage } from "../protocol/delta.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { Agent } from "./agent.ts";
import { InvalidDeltaError } from "./agent.ts";
import type { Envelope, RegionHttp } from "./_http.ts";
import { verifyEd25519 } from "../crypto/ed25519.ts";

export type { Eligibility, ProposalValue, Weights };

/** What one writes to propose; `grace`, `weights` and `threshold` have defaults (§24.2). */
export type ProposalInput = ProposalValue;

/** A proposal's state in a region: `open` until its deadline, then `closing`, then `decided`. */
export type ProposalState = "open" | "closing" | "decided" | "void";

/** One ballot as a region lists it. */
export interface ProposalVote {
  readonly voter: string;
  readonly option: string;
  readonly weight: number;
  readonly status: "counted" | "quarantined" | "not_eligible" | "not_an_option";
  readonly seq: number;
  readonly ts: number;
  readonly id: string;
}

/** `GET /v1/proposals/{id}`: the proposal, its tally in this region, and a page of ballots. */
export interface ProposalAnswer {
  readonly id: string;
  readonly author: string;
  readonly seq: number;
  readonly ts: number;
  readonly title: string;
  readonly body: string;
  readonly options: readonly string[];
  readonly deadline: number;
  readonly grace: number;
  readonly closes: number;
  readonly eligible: Eligibility;
  readonly weights: Weights;
  readonly threshold: readonly [number, number];
  readonly votesChannel: string;
  readonly state: ProposalState;
  /** The winning option or `no_quorum` once `decided`; null before. */
  readonly outcome: string | null;
  /** The option holding the threshold with the ballots this region holds now, or null. */
  readonly leading: string | null;
  readonly tally: {
    readonly options: readonly { readonly option: string; readonly weight: number }[];
    readonly eligible: { readonly agents: number; readonly weight: number };
    readonly needed: number;
    readonly cast: number;
    readonly spoiled: number;
    readonly excluded: number;
    readonly voters: number;
    readonly late: number;
  };
  readonly votes: readonly ProposalVote[];
  readonly votesNext: string | null;
  readonly envelope: Envelope | null;
}

/** One entry of `GET /v1/proposals`. */
export interface ProposalSummary {
  readonly id: string;
  readonly author: string;
  readonly title: string;
  readonly options: readonly string[];
  readonly deadline: number;
  readonly closes: number;
  readonly state: ProposalState;
  readonly outcome: string | null;
}

export interface ProposalList {
  readonly proposals: readonly ProposalSummary[];
  /** Pass as `cursor` for the next page; null at the end. */
  readonly cursor: string | null;
}

/** A list query: by state (default all), at most `limit` (1 … 100). */
export interface ProposalListQuery {
  readonly state?: ProposalState | "all";
  readonly limit?: number;
  readonly cursor?: string;
}

/** A tally read with a page of ballots: at most `votesLimit` (0 … 1000) after `votesAfter`. */
export interface ProposalQuery {
  readonly votesLimit?: number;
  readonly votesAfter?: string;
}

/**
 * Signs a proposal as the next `_proposals` delta of `agent`; its id (the delta id) names it
 * everywhere. Throws `InvalidDeltaError` (`bad_proposal`) before claiming a seq when every
 * region would refuse it (the deadline is checked against the agent's clock now).
 */
export async function signProposal(
  agent: Agent,
  input: ProposalInput,
): Promise<{ id: string; envelope: Envelope }> {
  const problem = proposalValueProblem(input, agent.clock.peek());
  if (problem !== null) throw new InvalidDeltaError("bad_proposal", problem);
  const envelope = await agent.signNextWith(PROPOSALS_CHANNEL, (seq) => [
    { op: "set", key: proposalKey(agent.key.id, seq), value: input as unknown as OpValue },
  ]);
  return { id: deltaId(utf8Encode(envelope.body)), envelope };
}

/**
 * Signs `agent`'s ballot for `option` on `proposal` (as a region answered it, or its id,
 * deadline and grace). A later ballot replaces an earlier one until the deadline.
 */
export function signVote(
  agent: Agent,
  proposal: { readonly id: string; readonly deadline: number; readonly grace?: number },
  option: string,
): Promise<Envelope> {
  const ballot: Ballot = {
    option,
    deadline: proposal.deadline,
    grace: proposal.grace ?? PROPOSAL_GRACE_MS_DEFAULT,
  };
  return agent.signNext(votesChannel(proposal.id), [
    { op: "set", key: agent.key.id, value: ballot },
  ]);
}

/**
 * Checks a proposal answer's envelope: signed by its author, with the id it claims, holding the
 * fields answered. False when any of that fails (a lying region).
 */
export async function verifyProposalAnswer(answer: ProposalAnswer): Promise<boolean> {
  const envelope = answer.envelope;
  if (envelope === null) return false;
  const bytes = utf8Encode(envelope.body);
  if (deltaId(bytes) !== answer.id) return false;
  const body = JSON.parse(envelope.body) as {
    author: string;
    seq: number;
    ts: number;
    ops: { value: ProposalValue }[];
  };
  const value = body.ops[0]?.value;
  const signature = decodeBase64Url(envelope.sig);
  const key = decodeBase64Url(body.author);
  if (signature === null || key === null || value === undefined) return false;
  const same = body.author === answer.author && body.seq === answer.seq &&
    body.ts === answer.ts && value.title === answer.title &&
    value.deadline === answer.deadline &&
    JSON.stringify(value.options) === JSON.stringify(answer.options);
  return same && await verifyEd25519(key, signature, signedMessage(bytes));
}

export function readProposal(
  http: RegionHttp,
  id: string,
  query: ProposalQuery = {},
): Promise<ProposalAnswer> {
  const params = new URLSearchParams();
  if (query.votesLimit !== undefined) params.set("votes_limit", String(query.votesLimit));
  if (query.votesAfter !== undefined) params.set("votes_after", query.votesAfter);
  const qs = params.size === 0 ? "" : `?${params}`;
  return http.json("proposal", `/v1/proposals/${encodeURIComponent(id)}${qs}`);
}

export function listProposals(
  http: RegionHttp,
  query: ProposalListQuery = {},
): Promise<ProposalList> {
  const params = new URLSearchParams();
  if (query.state !== undefined) params.set("state", query.state);
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  if (query.cursor !== undefined) params.set("cursor", query.cursor);
  const qs = params.size === 0 ? "" : `?${params}`;
  return http.json("proposals", `/v1/proposals${qs}`);
}
