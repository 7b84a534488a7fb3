/**
 * Offline verification of a region's `GET /v1/agents/{id}` answer (docs/protocol.md §20.5): the
 * envelope in `meshRegistry` must be a valid `_registry` delta signed by the agent itself, and
 * the card the region shows must be exactly the card that delta signed. A region (or anything on
 * the way) that alters a card, or shows one agent's card under another's id, is caught here,
 * so the SDK need not trust the region it asks.
 */
import { verifyEd25519 } from "../crypto/mod.ts";
import { type AgentCard, REGISTRY_CHANNEL } from "../protocol/agent_card.ts";
import { canonicalJson, type JsonValue } from "../protocol/canonical_json.ts";
import { parseEnvelope } from "../protocol/envelope.ts";

/** A card whose signature and content were checked against its signed delta. */
export interface VerifiedAgentCard {
  /** The agent's id: its public key, the card's author. */
  readonly id: string;
  readonly card: AgentCard;
  /** The signed `_registry` delta the card comes from, as the region stores it. */
  readonly envelope: { readonly body: string; readonly sig: string };
  /** Signed time of the card, ms since the epoch, and the agent's seq in `_registry`. */
  readonly ts: number;
  readonly seq: number;
  /** Liveness as the region reports it (not signed: the region's word). */
  readonly lastSeen: number;
  readonly stale: boolean;
  readonly region: string | null;
}

/** Why a card answer does not verify. */
export type CardProblem =
  | "malformed" // not an answer of the documented shape
  | "bad_envelope" // the envelope is not a valid _registry delta (§7 checks 1–6, 8d)
  | "bad_signature" // the signature does not verify
  | "wrong_agent" // the delta is another agent's, or not in _registry
  | "card_mismatch"; // the card shown differs from the card signed

/** A card answer that does not verify: the region (or the network) cannot be trusted with it. */
export class CardVerificationError extends Error {
  constructor(readonly id: string, readonly problem: CardProblem, detail: string) {
    super(`The card of ${id} does not verify (${problem}): ${detail}`);
    this.name = "CardVerificationError";
  }
}

type Verify = (publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array) => Promise<
  boolean
>;

/**
 * Checks the answer of `GET /v1/agents/{id}` for `id`; the verified card, or throws
 * `CardVerificationError`. `verify` defaults to the mesh's Ed25519 rule.
 */
export async function verifyCardAnswer(
  id: string,
  answer: unknown,
  verify: Verify = verifyEd25519,
): Promise<VerifiedAgentCard> {
  const fail = (problem: CardProblem, detail: string) =>
    new CardVerificationError(id, problem, detail);
  if (!isObject(answer) || !isObject(answer.meshRegistry)) {
    throw fail("malformed", "the answer has no meshRegistry object");
  }
  const { meshRegistry, ...shown } = answer;
  const { envelope, lastSeen, stale, region } = meshRegistry;
  if (!isObject(envelope)) throw fail("malformed", "meshRegistry has no envelope");
  // The clock check of §7 is the receiving region's; a card signed long ago is still the card.
  const parsed = parseEnvelope(envelope, Infinity);
  if (!parsed.ok) throw fail("bad_envelope", `${parsed.reason}: ${parsed.detail}`);
  const { delta } = parsed;
  if (delta.channel !== REGISTRY_CHANNEL || delta.author !== id) {
    throw fail("wrong_agent", `the envelope is ${delta.author}'s delta in ${delta.channel}`);
  }
  if (!await verify(parsed.publicKey, parsed.signature, parsed.message)) {
    throw fail("bad_signature", "the envelope's signature is not the agent's");
  }
  const op = delta.ops[0];
  if (op.op !== "set") throw fail("wrong_agent", "the envelope withdraws the card");
  if (canonicalJson(op.value) !== canonicalJson(shown as JsonValue)) {
    throw fail("card_mismatch", "the card shown is not the card signed");
  }
  return {
    id,
    card: op.value as AgentCard,
    envelope: { body: envelope.body as string, sig: envelope.sig as string },
    ts: delta.ts,
    seq: delta.seq,
    lastSeen: typeof lastSeen === "number" ? lastSeen : delta.ts,
    stale: stale === true,
    region: typeof region === "string" ? region : null,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
