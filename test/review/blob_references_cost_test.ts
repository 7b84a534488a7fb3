/**
 * Review of `BlobReferences.has` (src/blobs/references.ts), which every public `GET` or `HEAD
 * /v1/blobs/{sha256}` of a blob the region does not store calls to decide whether to pull it
 * (docs/protocol.md §25.5). Whenever the `_blobs` fold had changed at all, it rendered the whole
 * view (`state.view()`: every live key sorted, every author's heads and gaps, the fingerprint)
 * and re-parsed every key: with 192,000 references (3,000 deltas of 64 ops) ~0.7 s of CPU for
 * one unsigned GET of a random name, after any agent pushed one `_blobs` delta. Alternating the
 * two requests kept an instance busy. `has` now looks only at the keys that name that hash; the
 * full set is still derived for the collector, once per change.
 */
import assert from "node:assert/strict";
import { BlobReferences } from "../../src/blobs/references.ts";
import { ChannelState } from "../../src/crdt/channel_state.ts";
import { deltaId } from "../../src/protocol/delta.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { StoredDelta } from "../../src/store/region_store.ts";
import { T0_MS } from "../support/signing.ts";

const SIG = "A".repeat(86);
const agentId = (n: number) => `agent${String(n).padStart(37, "0")}A`;
const hex = (n: number) => n.toString(16).padStart(64, "0");
const META = { name: "x", type: "text/plain", size: 1 };

function delta(author: string, seq: number, ops: unknown[], ts = T0_MS) {
  const body = JSON.stringify({ v: 1, author, seq, channel: "_blobs", ts, lc: 0, ops });
  return {
    id: deltaId(utf8Encode(body)),
    channel: "_blobs",
    author,
    seq,
    body,
    sig: SIG,
  } as StoredDelta;
}
const set = (author: string, sha: string) => ({ op: "set", key: `${author}:${sha}`, value: META });

/** Counts `ChannelState.view()` renders while `work` runs. */
async function renders<T>(work: () => Promise<T>): Promise<{ value: T; views: number }> {
  const view = ChannelState.prototype.view;
  let views = 0;
  ChannelState.prototype.view = function (this: ChannelState) {
    views++;
    return view.call(this);
  };
  try {
    return { value: await work(), views };
  } finally {
    ChannelState.prototype.view = view;
  }
}

Deno.test("blob review: a read of a missing blob does not render the whole _blobs view", async () => {
  const store = new MemoryStore();
  const deltas = Array.from(
    { length: 200 },
    (_, i) =>
      delta(agentId(i), 1, Array.from({ length: 64 }, (_, k) => set(agentId(i), hex(i * 64 + k)))),
  );
  await store.putDeltas(deltas);
  const refs = new BlobReferences(new ChannelViews(store), store);
  assert.equal(await refs.has(hex(5)), true);
  for (let k = 0; k < 5; k++) {
    await store.putDeltas([delta(agentId(1_000 + k), 1, [set(agentId(1_000 + k), hex(1e9 + k))])]);
    const { value, views } = await renders(() => refs.has(hex(1e12 + k)));
    assert.equal(value, false);
    assert.equal(views, 0, "one GET of a random name rendered the whole _blobs view");
  }
});

Deno.test("blob review (guard): has() answers as the view does — withdrawn, re-set, quarantined", async () => {
  const store = new MemoryStore();
  const refs = new BlobReferences(new ChannelViews(store), store);
  const [a, b, liar] = [agentId(1), agentId(2), agentId(3)];
  const [x, y, z] = [hex(1), hex(2), hex(3)];
  await store.putDeltas([delta(a, 1, [set(a, x), set(a, y)]), delta(b, 1, [set(b, y)])]);
  assert.deepEqual([await refs.has(x), await refs.has(y), await refs.has(z)], [true, true, false]);
  await store.putDeltas([
    delta(a, 2, [{ op: "del", key: `${a}:${x}` }, { op: "del", key: `${a}:${y}` }], T0_MS + 1),
  ]);
  assert.deepEqual([await refs.has(x), await refs.has(y)], [false, true]); // b still holds y
  await store.putDeltas([delta(a, 3, [set(a, x)], T0_MS + 2)]);
  assert.equal(await refs.has(x), true);
  // The liar references z, then equivocates (two bodies with seq 2): its references stop counting.
  await store.putDeltas([delta(liar, 1, [set(liar, z)])]);
  assert.equal(await refs.has(z), true);
  await store.putDeltas([delta(liar, 2, [set(liar, hex(7))]), delta(liar, 2, [set(liar, hex(8))])]);
  assert.equal(await refs.has(z), false);
  assert.deepEqual([...await refs.referenced()].sort(), [x, y]);
});
