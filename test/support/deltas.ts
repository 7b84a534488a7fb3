/** Test fixtures: real signed deltas from fresh keys, and unsigned records for store tests. */
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { deltaId, type Op } from "../../src/protocol/delta.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import type { StoredDelta } from "../../src/store/region_store.ts";

/** A store record for `author`'s `seq` in `channel`; `salt` varies the body (and so the id). */
export function storedDelta(
  channel: string,
  author: string,
  seq: number,
  salt = "",
): StoredDelta {
  const body = JSON.stringify({
    v: 1,
    author,
    seq,
    channel,
    ts: 1_700_000_000_000 + seq,
    lc: 0,
    ops: [{ op: "set", key: `k${seq}`, value: salt || seq }],
  });
  return {
    id: deltaId(utf8Encode(body)),
    channel,
    author,
    seq,
    body,
    sig: encodeBase64Url(new Uint8Array(64).fill(seq % 256)),
  };
}

/** A syntactically valid author id (not a real key; stores do not verify). */
export function fakeAuthor(n: number): string {
  const bytes = new Uint8Array(32);
  new DataView(bytes.buffer).setUint32(0, n);
  return encodeBase64Url(bytes);
}

export type { Op };
