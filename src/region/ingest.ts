/**
 * The ingest pipeline of one push: parse → verify → dedupe/persist → per-delta results in input
 * order. Pure checks live in `parseEnvelope`; this adds the signature check (async) and the store.
 */
import { type Delta, parseEnvelope, type RejectReason } from "../protocol/delta.ts";
import type { PutOutcome, RegionStore, StoredDelta } from "../store/region_store.ts";

/** Verifies an ed25519 signature; never throws for bad input. */
export type VerifyFn = (
  publicKey: Uint8Array,
  signature: Uint8Array,
  message: Uint8Array,
) => Promise<boolean>;

/** The answer for one delta of a push, as it goes on the wire. */
export type DeltaResult =
  | { readonly id: string; readonly status: "accepted" | "duplicate" }
  | {
    readonly id: string | null;
    readonly status: "rejected";
    readonly reason: RejectReason;
    readonly detail: string;
  };

export interface IngestOutcome {
  readonly results: DeltaResult[];
  /** The deltas this push newly stored, in input order. */
  readonly accepted: Delta[];
}

/**
 * Checks every envelope, stores the valid ones in one `putDeltas` call and reports each.
 * Throws `StoreUnavailableError` when the store fails (the caller answers 503).
 */
export async function ingest(
  envelopes: readonly unknown[],
  store: RegionStore,
  verify: VerifyFn,
  nowMs: number,
): Promise<IngestOutcome> {
  const parsed = envelopes.map((e) => parseEnvelope(e, nowMs));
  const verified = await Promise.all(
    parsed.map((p) => p.ok ? verify(p.publicKey, p.signature, p.message) : false),
  );
  const results: (DeltaResult | undefined)[] = parsed.map((p, i) => {
    if (!p.ok) {
      return {
        id: p.id,
        status: "rejected",
        reason: p.reason,
        detail: p.detail,
      };
    }
    if (!verified[i]) {
      return {
        id: p.delta.id,
        status: "rejected",
        reason: "bad_signature",
        detail: "signature does not verify for this author and body",
      };
    }
    return undefined;
  });
  const toStore: Delta[] = [];
  const positions: number[] = [];
  parsed.forEach((p, i) => {
    if (p.ok && results[i] === undefined) {
      toStore.push(p.delta);
      positions.push(i);
    }
  });
  const outcomes = toStore.length > 0 ? await store.putDeltas(toStore.map(stored)) : [];
  const accepted: Delta[] = [];
  outcomes.forEach((outcome, k) => {
    const delta = toStore[k];
    results[positions[k]] = resultOf(delta.id, outcome);
    if (outcome.status === "accepted") accepted.push(delta);
  });
  return { results: results as DeltaResult[], accepted };
}

function stored(delta: Delta): StoredDelta {
  const { id, channel, author, seq, body, sig } = delta;
  return { id, channel, author, seq, body, sig };
}

function resultOf(id: string, outcome: PutOutcome): DeltaResult {
  if (outcome.status === "seq_conflict") {
    return {
      id,
      status: "rejected",
      reason: "seq_conflict",
      detail: `this author already signed another delta with this seq: ${outcome.existingId}`,
    };
  }
  return { id, status: outcome.status };
}
