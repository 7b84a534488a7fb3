/** Helpers of the proposal tests: sign proposals and ballots with chosen seq and time. */
import type { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { proposalKey, PROPOSALS_CHANNEL, votesChannel } from "../../src/protocol/proposal.ts";
import { idOf, signBody, T0_MS } from "../support/signing.ts";

export { T0_MS };

/** A proposal's value with defaults: two options, deadline one minute after T0, grace 30 s. */
export function proposalValue(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: "Ship it?",
    options: ["yes", "no"],
    deadline: T0_MS + 60_000,
    eligible: { agents: [] },
    ...overrides,
  };
}

/** Signs a `_proposals` delta by `key` (seq 1 at T0 unless told). */
export function signedProposal(
  key: AgentKey,
  value: Record<string, unknown>,
  at: { seq?: number; ts?: number } = {},
): { id: string; envelope: Envelope } {
  const seq = at.seq ?? 1;
  const body = {
    v: 1,
    author: key.id,
    seq,
    channel: PROPOSALS_CHANNEL,
    ts: at.ts ?? T0_MS,
    lc: 0,
    ops: [{ op: "set", key: proposalKey(key.id, seq), value }],
  };
  const envelope = signBody(key, JSON.stringify(body));
  return { id: idOf(envelope), envelope };
}

/** Signs `key`'s ballot number `seq` for `option` on proposal `id`, signed at `ts`. */
export function signedBallot(
  key: AgentKey,
  proposal: { id: string; deadline: number; grace?: number },
  option: string,
  at: { seq?: number; ts?: number } = {},
): Envelope {
  const body = {
    v: 1,
    author: key.id,
    seq: at.seq ?? 1,
    channel: votesChannel(proposal.id),
    ts: at.ts ?? T0_MS + 1_000,
    lc: 0,
    ops: [{
      op: "set",
      key: key.id,
      value: { option, deadline: proposal.deadline, grace: proposal.grace ?? 30_000 },
    }],
  };
  return signBody(key, JSON.stringify(body));
}
