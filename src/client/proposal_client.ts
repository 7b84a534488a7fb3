/**
 * Proposals and votes from the agent's side (docs/protocol.md §24): sign a proposal (a
 * `_proposals` delta keyed `<author>:<seq>`) or a ballot (a `_votes:<proposal>` delta keyed by the
 * voter), push them as deltas, and read a region's tally. `MeshClient.proposal/proposals` call
 * the readers (`_proposal_reads.ts`); `Agent` signs.
 */
import {
  type Ballot,
  PROPOSAL_GRACE_MS_DEFAULT,
  proposalKey,
  PROPOSALS_CHANNEL,
  proposalValueProblem,
  votesChannel,
} from "../protocol/proposal.ts";
import { deltaId, type OpValue } from "../protocol/delta.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { Agent } from "./agent.ts";
import { InvalidDeltaError } from "./agent.ts";
import type { Envelope } from "./_http.ts";
import type { ProposalAnswer, ProposalInput } from "./_proposal_reads.ts";
import { verifiedProposal } from "./_proposal_envelope.ts";

export type {
  Eligibility,
  ProposalAnswer,
  ProposalInput,
  ProposalList,
  ProposalListQuery,
  ProposalQuery,
  ProposalState,
  ProposalSummary,
  ProposalValue,
  ProposalVote,
  Weights,
} from "./_proposal_reads.ts";

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
 * Checks a proposal answer's envelope: signed by its author, with the id it claims, a proposal
 * of the `_proposals` channel, and every member answered equal to what the signed body says
 * (defaults filled in) — `grace` above all, which `signVote` copies into the ballot: a ballot
 * with another copy is one no tally counts. False when any of that fails (a lying region).
 */
export async function verifyProposalAnswer(answer: ProposalAnswer): Promise<boolean> {
  const signed = await verifiedProposal(answer.id, answer.envelope);
  if (signed === null) return false;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  return answer.author === signed.author && answer.seq === signed.seq &&
    answer.ts === signed.ts && answer.title === signed.title && answer.body === signed.body &&
    same(answer.options, signed.options) && answer.deadline === signed.deadline &&
    answer.grace === signed.grace && answer.closes === signed.deadline + signed.grace &&
    same(answer.eligible, signed.eligible) && same(answer.weights, signed.weights) &&
    same(answer.threshold, signed.threshold) &&
    answer.votesChannel === votesChannel(signed.id);
}
