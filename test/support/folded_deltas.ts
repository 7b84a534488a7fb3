/**
 * Test fixtures for the CRDT fold: unsigned `FoldedDelta` values whose ids are computed exactly as
 * the wire format computes them (base64url(sha256(body bytes))), so ids, tags and fingerprints
 * look like the real thing without keys or signatures.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import type { FoldedDelta } from "../../src/crdt/channel_state.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { deltaId, type Op } from "../../src/protocol/delta.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";

export type { FoldedDelta, Op };

/** A 43-character delta id derived from `label`: base64url(sha256(label)). */
export function fakeId(label: string): string {
  return encodeBase64Url(sha256(utf8Encode(label)));
}

/**
 * A syntactically valid author id (32 bytes as base64url) that starts with `first`, so tests can
 * pick how authors compare as JavaScript strings. `first` must be a base64url character.
 */
export function authorId(first: string): string {
  return first + "A".repeat(42);
}

/** The delta's fields except its id, which `folded` derives from the v1 body. */
export type DeltaFields = Omit<FoldedDelta, "id">;

/** A delta whose id is the sha256 of its v1 body text, as a region would compute it. */
export function folded(fields: DeltaFields): FoldedDelta {
  const { channel, author, seq, ts, lc, ops } = fields;
  const body = JSON.stringify({ v: 1, author, seq, channel, ts, lc, ops });
  return { id: deltaId(utf8Encode(body)), channel, author, seq, ts, lc, ops };
}

/** The OR-set tag of the add at `index` in `delta`: `<delta id>:<op index>`. */
export function tagOf(delta: FoldedDelta, index: number): string {
  return `${delta.id}:${index}`;
}
