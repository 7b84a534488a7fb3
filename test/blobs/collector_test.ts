/**
 * The blob collector (docs/protocol.md §25.6) on a real region app, over the memory store and
 * Deno KV: an unreferenced blob goes after its grace and a referenced one stays; a withdrawn
 * reference lets the blob go; an upload again restarts the grace; a quarantined author's
 * references do not count; abandoned and dead uploads are dropped; one instance collects.
 */
import assert from "node:assert/strict";
import { Blobs } from "../../src/blobs/mod.ts";
import { blobRefKey, BLOBS_CHANNEL } from "../../src/protocol/blob_ref.ts";
import type { Op } from "../../src/protocol/delta.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { bodyOf, signBody, testAgent } from "../support/signing.ts";
import { type BlobRegion, blobRegion, patternBytes, sha256Hex, signedPut } from "./_blobs.ts";

const GRACE_MS = 60_000;
const ABANDONED_MS = 700_000;

const STORES: [string, () => Promise<RegionStore>][] = [
  ["MemoryStore", () => Promise.resolve(new MemoryStore())],
  ["DenoKvStore", () => DenoKvStore.open(":memory:")],
];

async function push(r: BlobRegion, deltas: unknown[]) {
  const response = await r.app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  return (await response.json()).results as { status: string; reason?: string }[];
}

async function put(r: BlobRegion, bytes: Uint8Array, agent = testAgent(() => r.nowMs)) {
  const response = await r.app.request(await signedPut(agent.key, bytes, { nowMs: r.nowMs }));
  assert.ok(response.status === 201 || response.status === 200, String(response.status));
  await response.body?.cancel();
  return sha256Hex(bytes);
}

function refOp(author: string, sha: string, size: number): Op {
  return { op: "set", key: blobRefKey(author, sha), value: { name: "f", type: "a/b", size } };
}

async function status(r: BlobRegion, sha: string): Promise<number> {
  const response = await r.app.request(`/v1/blobs/${sha}`);
  await response.body?.cancel();
  return response.status;
}

for (const [kind, open] of STORES) {
  Deno.test(`Blobs.tick() on ${kind}: unreferenced blobs go after the grace, referenced ones stay`, async () => {
    const store = await open();
    try {
      const r = blobRegion({ store, graceMs: GRACE_MS, abandonedMs: ABANDONED_MS });
      const agent = testAgent(() => r.nowMs);
      const kept = patternBytes(100_000, 1), dropped = patternBytes(100_000, 2);
      const keptSha = await put(r, kept, agent);
      const droppedSha = await put(r, dropped, agent);
      const ref = agent.sign(BLOBS_CHANNEL, [refOp(agent.key.id, keptSha, kept.length)]);
      assert.equal((await push(r, [ref]))[0].status, "accepted");

      r.nowMs += GRACE_MS - 1;
      assert.deepEqual(await r.blobs.tick(), {
        leader: true,
        examined: 2,
        removedBlobs: 0,
        droppedUploads: 0,
      });
      r.nowMs += 2;
      assert.equal((await r.blobs.tick()).removedBlobs, 1);
      assert.equal(await status(r, droppedSha), 404);
      assert.equal(await status(r, keptSha), 200);
      assert.deepEqual((await store.blobs.listUploads(null, 10)).items, []);

      // Withdrawn: the blob goes at the next tick (its grace ran out long ago).
      const withdraw = agent.sign(BLOBS_CHANNEL, [{
        op: "del",
        key: blobRefKey(agent.key.id, keptSha),
      }]);
      assert.equal((await push(r, [withdraw]))[0].status, "accepted");
      assert.equal((await r.blobs.tick()).removedBlobs, 1);
      assert.equal(await status(r, keptSha), 404);
      assert.deepEqual((await store.blobs.listBlobs(null, 10)).items, []);
    } finally {
      await store.close();
    }
  });
}

Deno.test("Blobs.tick(): an upload of a stored blob starts its grace again", async () => {
  const r = blobRegion({ graceMs: GRACE_MS, abandonedMs: ABANDONED_MS });
  const sha = await put(r, patternBytes(10, 3));
  r.nowMs += GRACE_MS - 10;
  await put(r, patternBytes(10, 3));
  r.nowMs += 20;
  assert.equal((await r.blobs.tick()).removedBlobs, 0);
  r.nowMs += GRACE_MS;
  assert.equal((await r.blobs.tick()).removedBlobs, 1);
  assert.equal(await status(r, sha), 404);
});

Deno.test("Blobs.tick(): a quarantined author's references do not keep a blob", async () => {
  const r = blobRegion({ graceMs: GRACE_MS, abandonedMs: ABANDONED_MS });
  const cheat = testAgent(() => r.nowMs);
  const bytes = patternBytes(1_000, 4);
  const sha = await put(r, bytes, cheat);
  const half = (size: number) =>
    signBody(
      cheat.key,
      JSON.stringify(
        bodyOf(cheat.key, { channel: BLOBS_CHANNEL, ops: [refOp(cheat.key.id, sha, size)] }),
      ),
    );
  assert.deepEqual((await push(r, [half(1_000)])).map((x) => x.status), ["accepted"]);
  r.nowMs += GRACE_MS + 1;
  assert.equal((await r.blobs.tick()).removedBlobs, 0);
  // The same seq signed twice: the author equivocated, and views leave all its deltas out.
  assert.equal((await push(r, [half(999)]))[0].reason, "seq_conflict");
  assert.equal((await r.blobs.tick()).removedBlobs, 1);
});

Deno.test("Blobs.tick(): abandoned uploads are dropped after abandonedMs, fresh ones are left", async () => {
  const store = new MemoryStore();
  const r = blobRegion({ store, graceMs: GRACE_MS, abandonedMs: ABANDONED_MS });
  await store.blobs.beginUpload("crashed", r.nowMs);
  await store.blobs.putChunks("crashed", 0, [new Uint8Array(10), new Uint8Array(5)]);
  r.nowMs += ABANDONED_MS;
  await store.blobs.beginUpload("fresh", r.nowMs);
  assert.equal((await r.blobs.tick()).droppedUploads, 0);
  r.nowMs += 1;
  assert.equal((await r.blobs.tick()).droppedUploads, 1);
  assert.deepEqual((await store.blobs.listUploads(null, 10)).items.map((u) => u.upload), ["fresh"]);
  assert.equal(store.blobs.chunksHeld, 0);
});

Deno.test("Blobs.tick() on Deno KV finishes a removal cut short (a dead upload with chunks)", async () => {
  const kv = await Deno.openKv(":memory:");
  const store = new DenoKvStore(kv, { ownsKv: false });
  try {
    const r = blobRegion({ store, graceMs: GRACE_MS, abandonedMs: ABANDONED_MS });
    await kv.set(["blobu", "cut"], { startedAtMs: 0, dead: true, chunks: 2 });
    await kv.set(["blobc", "cut", 0], new Uint8Array(3));
    await kv.set(["blobc", "cut", 1], new Uint8Array(3));
    assert.equal((await r.blobs.tick()).droppedUploads, 1);
    const left = [];
    for await (const entry of kv.list({ prefix: [] })) left.push(entry.key[0]);
    assert.ok(!left.includes("blobc") && !left.includes("blobu"), JSON.stringify(left));
  } finally {
    await store.close();
    kv.close();
  }
});

Deno.test("Blobs.tick(): one instance of a region collects (the blob-gc lease)", async () => {
  const store = new MemoryStore();
  const r = blobRegion({ store, graceMs: GRACE_MS, abandonedMs: ABANDONED_MS, instance: "a" });
  const other = new Blobs({
    region: "t",
    store,
    now: () => r.nowMs,
    graceMs: GRACE_MS,
    abandonedMs: ABANDONED_MS,
    instance: "b",
  });
  await put(r, patternBytes(10, 9));
  r.nowMs += GRACE_MS + 1;
  assert.equal((await other.tick()).leader, true);
  const first = await r.blobs.tick();
  assert.equal(first.leader, false);
  assert.equal(first.removedBlobs, 0);
  assert.deepEqual((await store.blobs.listBlobs(null, 10)).items, []);
});
