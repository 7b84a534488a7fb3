/**
 * The ingest pipeline of one push: parse → verify → dedupe/persist → per-delta results in input
 * order. Pure checks live in `parseEnvelope`; this adds the signature check (async) and the store.
 */
import { type Delta, parseEnvelope, type RejectReason } from "../protocol/delta.ts";
import type { DeltaOrigin, PutOutcome, RegionStore, StoredDelta } from "../store/region_store.ts";

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
 * `origin` is recorded in the region log: relayed deltas are re-verified like any other (authors'
 * signatures are end-to-end) and fanned out according to where they came from. `known` may say
 * which ids are already stored (an index that may lag, never lead): those are reported
 * `duplicate` without verifying their signatures again.
 * Throws `StoreUnavailableError` when the store fails (the caller answers 503).
 */
export async function ingest(
  envelopes: readonly unknown[],
  store: RegionStore,
  verify: VerifyFn,
  nowMs: number,
  origin: DeltaOrigin = "agent",
  known?: (id: string) => boolean,
): Promise<IngestOutcome> {
  const parsed = envelopes.map((e) => parseEnvelope(e, nowMs));
  // A body this region already stores is a duplicate whatever its signature says: the stored
  // one was verified. Skipping verification matters when peers relay what we already have.
  const held = parsed.map((p) => p.ok && known !== undefined && known(p.delta.id));
  const verified = await Promise.all(
    parsed.map((p, i) => p.ok && !held[i] ? verify(p.publicKey, p.signature, p.message) : false),
  );
  const results: (DeltaResult | undefined)[] = parsed.map((p, i) => {
    if (held[i]) return { id: (p as { delta: Delta }).delta.id, status: "duplicate" };
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
  const outcomes = toStore.length > 0 ? await store.putDeltas(toStore.map(stored), origin) : [];
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
