/**
 * Denial of service through reconciliation (issue 8, items 3 and 6), at the region: an
 * anti-entropy session with a lying peer ends within its bounds and the leader backs off from
 * that peer (and comes back to it); requests for empty channels neither cost a cached trie nor
 * evict one.
 */
import assert from "node:assert/strict";
import { SYNC_PENALTY_MS_MIN } from "../../src/mesh/mesh_node.ts";
import { RegionIndex, SYNC_CHANNEL_TRIES_MAX } from "../../src/mesh/region_index.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { encodeCellRequest } from "../../src/sync/range_reconcile.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { cellLiar } from "../support/sync_liar.ts";

/** mulberry32, so the liar's answers replay. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Answers every asked sub-cell with a random cell far from the asker's, as much as fits. */
const liarAnswer = cellLiar(random(1));

Deno.test("MeshNode.antiEntropyTick() abandons a session with a lying /v1/sync peer, backs off from it and retries later", async () => {
  const mesh = new InProcessMesh([{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }]);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const honest = mesh.region("eu-2");
  let lies = 0;
  mesh.regions.set("eu-2", {
    ...honest,
    app: {
      ...honest.app,
      request: async (path: string, init?: RequestInit) => {
        if (path !== "/v1/sync") return await honest.app.request(path, init);
        lies++;
        const request = new Uint8Array(await new Response(init!.body).arrayBuffer());
        return new Response(liarAnswer(request) as Uint8Array<ArrayBuffer>);
      },
    } as typeof honest.app,
  });
  const eu1 = mesh.region("eu-1").node;
  const peerStatus = async () => (await eu1.status()).peers.find((p) => p.id === "eu-2")!;

  await eu1.antiEntropyTick();
  assert.ok(lies >= 1 && lies <= 6, `${lies} rounds with the liar`);
  let status = await peerStatus();
  assert.equal(status.syncPenalties, 1);
  assert.equal(status.syncPenaltyMs, SYNC_PENALTY_MS_MIN);

  const before = lies;
  await eu1.antiEntropyTick();
  assert.equal(lies, before, "backed off: no session during the penalty");

  mesh.nowMs += SYNC_PENALTY_MS_MIN;
  for (let i = 0; i < 8; i++) await mesh.tick(); // heartbeats find eu-2 again
  await eu1.antiEntropyTick();
  assert.ok(lies > before, "tried again after the penalty: peers are never forgotten");
  status = await peerStatus();
  assert.equal(status.syncPenalties, 2);
  assert.equal(status.syncPenaltyMs, 2 * SYNC_PENALTY_MS_MIN, "the back-off doubles");
});

/** A MemoryStore that counts full reads (from arrival 0) of each channel. */
class CountingStore extends MemoryStore {
  readonly fullReads = new Map<string, number>();
  override listArrivals(channel: string, after: number, limit: number) {
    if (after === 0) this.fullReads.set(channel, (this.fullReads.get(channel) ?? 0) + 1);
    return super.listArrivals(channel, after, limit);
  }
}

Deno.test("RegionIndex.respond() for empty channels keeps no trie and evicts no cached one", async () => {
  const store = new CountingStore();
  const deltas = Array.from({ length: 2_000 }, (_, i) => ({
    id: encodeBase64Url(crypto.getRandomValues(new Uint8Array(32))),
    channel: "big",
    author: "a",
    seq: i + 1,
    body: "{}",
    sig: "",
  }));
  await store.putDeltas(deltas);
  const index = new RegionIndex(store);
  const request = encodeCellRequest({ salt: new Uint8Array(8), ranges: [] });
  await index.respond(request, "big");
  assert.equal(store.fullReads.get("big"), 1);
  for (let i = 0; i < 4 * SYNC_CHANNEL_TRIES_MAX; i++) {
    await index.respond(request, `empty-${i}`);
  }
  await index.respond(request, "big");
  assert.equal(store.fullReads.get("big"), 1, "the cached trie survived: read on from its cursor");
});
