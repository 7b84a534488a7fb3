/**
 * The whole acceptance check of one received envelope, signature aside: `parseDeltaEnvelope`
 * and the rules of the system channels — for `_certificates` the shape of every certificate, for
 * `_equivocations` the shape of every proof (their inner signatures are the caller's too: see
 * `proofSignatures`), for `_registry` one card op keyed by its author, `_topic:` channels hold
 * topic messages only, an `_inbox:` channel direct messages and its owner's acknowledgements,
 * `_proposals` one proposal of its author per delta and a `_votes:` channel one ballot of its
 * author per delta (both expire, for agents' pushes, when the proposal closes), `_blobs` blob
 * references keyed by their own author, and every other `_` channel reserved. Pure; never throws.
 */
import { REGISTRY_CHANNEL, registryOpsProblem } from "./agent_card.ts";
import { blobOpsProblem, BLOBS_CHANNEL } from "./blob_ref.ts";
import { certificateOpsProblem, CERTIFICATES_CHANNEL } from "./certificate.ts";
import { ID_PATTERN, type Parsed, parseDeltaEnvelope, reject } from "./delta.ts";
import { EQUIVOCATIONS_CHANNEL, proofOpsProblem } from "./equivocation.ts";
import {
  ACK_IDS_MAX,
  ACK_SET,
  INBOX_CHANNEL_PREFIX,
  TOPIC_CHANNEL_PREFIX,
} from "./message_kinds.ts";
import type { Op } from "./delta.ts";
import {
  type Ballot,
  ballotCloses,
  PROPOSAL_GRACE_MS_DEFAULT,
  proposalOpsProblem,
  PROPOSALS_CHANNEL,
  voteOpsProblem,
  VOTES_CHANNEL_PREFIX,
} from "./proposal.ts";

export function parseEnvelope(envelope: unknown, nowMs: number): Parsed {
  const parsed = parseDeltaEnvelope(envelope, nowMs);
  if (!parsed.ok) return parsed;
  const { id, channel, ops, author, kind, seq, ts } = parsed.delta;
  if (kind !== undefined) return parsed; // its channel follows from its body
  if (channel.startsWith(VOTES_CHANNEL_PREFIX)) {
    const problem = voteOpsProblem(channel, author, ops);
    if (problem !== null) return reject(id, "bad_vote", problem);
    // An agent may push a ballot until the proposal closes (ingest refuses it as `expired` after).
    const ballot = (ops[0] as { value: unknown }).value as Ballot;
    return { ...parsed, delta: { ...parsed.delta, expires: ballotCloses(ballot) } };
  }
  if (channel === PROPOSALS_CHANNEL) {
    const problem = proposalOpsProblem(author, seq, ts, ops);
    if (problem !== null) return reject(id, "bad_proposal", problem);
    // Nobody could vote on a proposal pushed after its close: agents may push it until then.
    const value = (ops[0] as { value: unknown }).value as { deadline: number; grace?: number };
    const closes = ballotCloses({
      deadline: value.deadline,
      grace: value.grace ?? PROPOSAL_GRACE_MS_DEFAULT,
    });
    return { ...parsed, delta: { ...parsed.delta, expires: closes } };
  }
  if (channel.startsWith(INBOX_CHANNEL_PREFIX)) {
    const problem = ackOpsProblem(channel.slice(INBOX_CHANNEL_PREFIX.length), author, ops);
    if (problem !== null) return reject(id, "bad_ack", problem);
  } else if (channel.startsWith(TOPIC_CHANNEL_PREFIX)) {
    return reject(id, "reserved_channel", "a topic holds topic messages only (docs §22)");
  } else if (channel === EQUIVOCATIONS_CHANNEL) {
    const problem = proofOpsProblem(ops, ID_PATTERN);
    if (problem !== null) return reject(id, "bad_proof", problem);
  } else if (channel === CERTIFICATES_CHANNEL) {
    const problem = certificateOpsProblem(ops);
    if (problem !== null) return reject(id, "bad_certificate", problem);
  } else if (channel === REGISTRY_CHANNEL) {
    const problem = registryOpsProblem(author, ops);
    if (problem !== null) return reject(id, "bad_card", problem);
  } else if (channel === BLOBS_CHANNEL) {
    const problem = blobOpsProblem(author, ops);
    if (problem !== null) return reject(id, "bad_blob_ref", problem);
  } else if (channel.startsWith("_")) {
    return reject(id, "reserved_channel", "channels starting with _ are reserved for the system");
  }
  return parsed;
}

/**
 * Why a delta in the mailbox `_inbox:<owner>` is not an acknowledgement, or null: only the owner
 * writes deltas there, each op `add {set: "acked", elem: <message id>}`, at most ACK_IDS_MAX.
 */
export function ackOpsProblem(owner: string, author: string, ops: readonly Op[]): string | null {
  if (!ID_PATTERN.test(owner)) return "an _inbox: channel is _inbox:<agent id>";
  if (author !== owner) return "only the mailbox's owner may acknowledge its messages";
  if (ops.length > ACK_IDS_MAX) return `an acknowledgement names at most ${ACK_IDS_MAX} ids`;
  const bad = ops.find((op) => op.op !== "add" || op.set !== ACK_SET || !ID_PATTERN.test(op.elem));
  return bad === undefined ? null : `every op must be add {set: "${ACK_SET}", elem: <message id>}`;
}
