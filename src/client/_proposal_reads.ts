/**
 * Reading proposals from a region (docs/protocol.md §24.5, §24.6): the answers' types and the
 * two readers `MeshClient.proposal/proposals` call. Signing proposals and ballots is in
 * `proposal_client.ts`; a read is signed (with `key`) where a proposal is weighted by activity in a
 * members-only channel: only its members are served it (§24.5).
 */
import type { AgentKey } from "../crypto/agent_key.ts";
import {
  type Eligibility,
  type Proposal,
  PROPOSALS_CHANNEL,
  type ProposalValue,
  type Weights,
} from "../protocol/proposal.ts";
import { type Envelope, MeshHttpError, type RegionHttp } from "./_http.ts";
import { TAIL_LIMIT_MAX } from "../protocol/limits.ts";
import { signRequest } from "./request_signer.ts";
import { verifiedProposal } from "./_proposal_envelope.ts";

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

/**
 * `GET /v1/proposals/{id}`: the proposal (its fields with defaults filled in), its tally in this
 * region, and a page of ballots.
 */
export interface ProposalAnswer extends Proposal {
  readonly closes: number;
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
  /**
   * Signs the request with this agent's key (RFC 9421): the list then includes the proposals
   * weighted by activity in the members-only channels the agent is a member of.
   */
  readonly key?: AgentKey;
}

/** A tally read with a page of ballots: at most `votesLimit` (0 … 1000) after `votesAfter`. */
export interface ProposalQuery {
  readonly votesLimit?: number;
  readonly votesAfter?: string;
  /**
   * Signs the request with this agent's key (RFC 9421): needed for a proposal weighted by
   * activity in a members-only channel, which only its members are served (401 unsigned, 403 for
   * another agent).
   */
  readonly key?: AgentKey;
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
  return signedJson(http, "proposal", `/v1/proposals/${encodeURIComponent(id)}${qs}`, query.key);
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
  return signedJson(http, "proposals", `/v1/proposals${qs}`, query.key);
}

/** `GET path` as JSON, signed by `key` when there is one. */
async function signedJson<T>(
  http: RegionHttp,
  name: string,
  path: string,
  key: AgentKey | undefined,
): Promise<T> {
  if (key === undefined) return await http.json(name, path);
  return await http.json(name, await signRequest(key, new Request(http.url + path)));
}

/** Pages of `_proposals` a region without the fetch route is searched, at most (1000 each). */
export const SIGNED_PROPOSAL_TAIL_PAGES_MAX = 100;

/**
 * Proposal `id` as its author signed it, without a tally, verified; null when the region does not
 * hold it. `_proposals` is public: read through the open `POST /v1/sync/fetch` (§12.8) of a region
 * in a mesh, else (404: a region alone) found in the channel's tail (§12.3), at most
 * SIGNED_PROPOSAL_TAIL_PAGES_MAX pages. For a voter who may not read the tally (§24.5).
 */
export async function fetchSignedProposal(http: RegionHttp, id: string): Promise<Proposal | null> {
  let envelopes: readonly Envelope[];
  try {
    envelopes = (await http.json<{ deltas?: Envelope[] }>("sync fetch", "/v1/sync/fetch", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ids: [id] }),
    })).deltas ?? [];
  } catch (error) {
    if (!(error instanceof MeshHttpError && error.status === 404)) throw error;
    return await tailSearch(http, id);
  }
  for (const envelope of envelopes) {
    const proposal = await verifiedProposal(id, envelope);
    if (proposal !== null) return proposal;
  }
  return null;
}

/** Proposal `id` found in the tail of `_proposals`, verified, or null. */
async function tailSearch(http: RegionHttp, id: string): Promise<Proposal | null> {
  let cursor = "0";
  for (let pages = 0; pages < SIGNED_PROPOSAL_TAIL_PAGES_MAX; pages++) {
    const query = new URLSearchParams({ after: cursor, limit: String(TAIL_LIMIT_MAX) });
    const page = await http.json<
      { deltas: (Envelope & { id?: string })[]; cursor: string; more: boolean }
    >(
      "tail",
      `/v1/channels/${PROPOSALS_CHANNEL}/deltas?${query}`,
    );
    for (const envelope of page.deltas) {
      if (envelope.id !== undefined && envelope.id !== id) continue;
      const proposal = await verifiedProposal(id, envelope);
      if (proposal !== null) return proposal;
    }
    if (!page.more) return null;
    cursor = page.cursor;
  }
  return null;
}
