/**
 * The region log's shards at the mesh level (issue 13): fan-out and anti-entropy's index walk
 * every shard, and a region upgraded in place goes on from what the one log of the old layout
 * held (its legacy shard and the fan-out cursor named as before).
 */
import assert from "node:assert/strict";
import { fanOutCursors } from "../../src/mesh/fan_out.ts";
import { FIRST_DATA_SHARD, LEGACY_LOG_SHARD } from "../../src/store/region_log.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { readLog } from "../support/region_log.ts";
import { testAgent } from "../support/signing.ts";

const ZONE = [{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }];

/** Counts the deltas each `/v1/peer/deltas` message from eu-1 carries to eu-2. */
function counting() {
  const sent: string[] = [];
  const intercept = (from: string, to: string, path: string, init: RequestInit) => {
    if (from === "eu-1" && to === "eu-2" && path === "/v1/peer/deltas") {
      const { deltas } = JSON.parse(String(init.body)) as { deltas: { body: string }[] };
      sent.push(...deltas.map((d) => d.body));
    }
    return init;
  };
  return { sent, intercept };
}

Deno.test("MeshNode of a region upgraded in place fans out its old log from where it stood, then its shards, sending each delta once", async () => {
  const { sent, intercept } = counting();
  const mesh = new InProcessMesh(ZONE, { intercept, forwardEagerly: false });
  for (let i = 0; i < 8; i++) await mesh.tick();
  const eu1 = mesh.region("eu-1");
  const agent = testAgent(() => mesh.nowMs);
  const push = (k: number) =>
    mesh.push("eu-1", [agent.sign("room", [{ op: "set", key: `k${k}`, value: k }])]);

  // The old version: one log (shard 0), drained to eu-2 under the cursor `fanout:eu-2`.
  eu1.store.legacyLog = true;
  for (const k of [1, 2]) await push(k);
  for (let i = 0; i < 4; i++) await mesh.tick();
  assert.equal(await eu1.store.getCursor("fanout:eu-2"), 2);
  mesh.cut.add("eu-1>eu-2");
  await push(3); // logged the old way, not yet sent when the region is upgraded

  // The new version on the same data: new entries go to a data shard.
  eu1.store.legacyLog = false;
  for (const k of [4, 5]) await push(k);
  const heads = await eu1.store.logHeads();
  assert.equal(heads[LEGACY_LOG_SHARD], 3);
  assert.equal(heads[FIRST_DATA_SHARD], 2);
  mesh.cut.clear();
  for (let i = 0; i < 8; i++) await mesh.tick(); // fan-out only, no anti-entropy

  const views = await Promise.all(ZONE.map((r) => mesh.view(r.id, "room")));
  assert.equal(views[0], views[1]);
  assert.equal(JSON.parse(views[1]).deltas, 5);
  assert.equal(sent.length, 5, "each delta sent once: the old cursor was kept, not restarted");
  assert.deepEqual((await readLog(mesh.region("eu-2").store)).map((e) => e.origin), [
    "zone",
    "zone",
    "zone",
    "zone",
    "zone",
  ]);
  const cursors = await eu1.store.getCursors(fanOutCursors("eu-2"));
  assert.equal(cursors[LEGACY_LOG_SHARD], 3, "the old cursor, moved on");
  assert.equal(cursors[FIRST_DATA_SHARD], 2);
  const status = await eu1.node.status();
  assert.equal(status.logHead, 5, "logHead counts every shard");
  assert.equal(status.deltas, 5, "the index caught up from every shard");
  assert.equal(status.peers.find((p) => p.id === "eu-2")!.outboxDepth, 0);
});
