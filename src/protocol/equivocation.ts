/**
 * Equivocation proofs: two validly signed deltas with the same author, channel and seq but
 * different bodies. Anyone can check one from the two envelopes alone. Proofs travel as ordinary
 * deltas in the system channel `_equivocations` (docs/protocol.md §18): each op is
 * `set {key: <author>, value: {a: {body, sig}, b: {body, sig}}}` with `a`'s delta id below `b`'s.
 */
import { type Delta, type Op, parseDeltaEnvelope } from "./delta.ts";

/** The system channel that holds equivocation proofs. */
export const EQUIVOCATIONS_CHANNEL = "_equivocations";

/** One signed envelope of a proof. */
export interface ProofHalf {
  readonly body: string;
  readonly sig: string;
}

/** The value of a proof's `set` op. */
export interface EquivocationProof {
  readonly a: ProofHalf;
  readonly b: ProofHalf;
}

/** What a proof's signatures are checked with: the same shape as `parseEnvelope`'s ok result. */
export interface ProofSignature {
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
  readonly message: Uint8Array;
}

/** The result of the synchronous checks on one proof value. */
export type ProofShape =
  | { readonly ok: true; readonly signatures: readonly [ProofSignature, ProofSignature] }
  | { readonly ok: false; readonly detail: string };

const bad = (detail: string): ProofShape => ({ ok: false, detail });

/**
 * Every check on a proof against `author` except the two signatures: both halves are exactly
 * `{body, sig}` envelopes that pass every v1 check (any `ts`: a proof does not expire), both are
 * by `author` in the same channel (not a system one) with the same seq, and `a`'s id is below
 * `b`'s (so equal bodies, and two orders of one pair, are refused). Pure; never throws.
 */
export function checkProofShape(author: string, value: unknown): ProofShape {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return bad("a proof must be an object {a, b}");
  }
  const { a, b, ...extra } = value as Record<string, unknown>;
  if (Object.keys(extra).length > 0 || a === undefined || b === undefined) {
    return bad("a proof must be exactly {a, b}");
  }
  const pa = parseDeltaEnvelope(a, Infinity);
  const pb = parseDeltaEnvelope(b, Infinity);
  if (!pa.ok) return bad(`proof half a: ${pa.reason}: ${pa.detail}`);
  if (!pb.ok) return bad(`proof half b: ${pb.reason}: ${pb.detail}`);
  const da = pa.delta;
  const db = pb.delta;
  if (da.author !== author || db.author !== author) {
    return bad("both halves of a proof must be by the author it is filed under");
  }
  if (da.channel.startsWith("_")) return bad("a proof must be about a non-system channel");
  if (da.channel !== db.channel) return bad("the halves of a proof must share a channel");
  if (da.seq !== db.seq) return bad("the halves of a proof must share a seq");
  if (da.id === db.id) return bad("the halves of a proof must be different deltas");
  if (!(da.id < db.id)) return bad("a proof's half a must have the lower delta id");
  return { ok: true, signatures: [pa, pb] };
}

/**
 * Why the ops of a `_equivocations` delta are not all valid proofs (signatures aside), or null:
 * every op must be `set` with an author id as key and a proof against that author as value.
 */
export function proofOpsProblem(ops: readonly Op[], idPattern: RegExp): string | null {
  for (const [i, op] of ops.entries()) {
    if (op.op !== "set") return `ops.${i}: only set ops are allowed in ${EQUIVOCATIONS_CHANNEL}`;
    if (!idPattern.test(op.key)) return `ops.${i}: key must be the author id of the proof`;
    const shape = checkProofShape(op.key, op.value);
    if (!shape.ok) return `ops.${i}: ${shape.detail}`;
  }
  return null;
}

/** The signatures every proof of a `_equivocations` delta rests on (its shape already checked). */
export function proofSignatures(delta: Pick<Delta, "ops">): ProofSignature[] {
  return delta.ops.flatMap((op) => {
    if (op.op !== "set") return [];
    const shape = checkProofShape(op.key, op.value);
    return shape.ok ? [...shape.signatures] : [];
  });
}

/** The canonical proof value of two conflicting envelopes with known ids: sorted by id. */
export function proofValue(
  x: ProofHalf & { readonly id: string },
  y: ProofHalf & { readonly id: string },
): EquivocationProof {
  const [a, b] = x.id < y.id ? [x, y] : [y, x];
  return { a: { body: a.body, sig: a.sig }, b: { body: b.body, sig: b.sig } };
}
