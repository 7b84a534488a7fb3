/**
 * Deltas anti-entropy repairs are logged as the peer would have relayed them (`zone` from a
 * region of the zone, `remote` from another), so fan-out passes them on: a zone leader that got
 * a delta by anti-entropy before fan-out brought it still sends it to the other zones.
 */
import assert from "node:assert/strict";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { readLog } from "../support/region_log.ts";
import { testAgent } from "../support/signing.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
  { id: "us-2", zone: "us" },
];

Deno.test("MeshNode fans a delta its anti-entropy pulled first out to the other zones, without their anti-entropy", async () => {
  let lose = false;
  // eu-2's fan-out to its zone leader eu-1 is lost (heartbeats and sync still go through).
  const mesh = new InProcessMesh(LAYOUT, {
    delivery: (from, to, path) =>
      lose && from === "eu-2" && to === "eu-1" && path === "/v1/peer/deltas" ? "drop" : "deliver",
  });
  for (let i = 0; i < 8; i++) await mesh.tick();
  lose = true;
  const d = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.equal((await mesh.push("eu-2", [d]))[0].status, "accepted");
  await mesh.tick();
  const eu1 = mesh.region("eu-1");
  assert.equal((await readLog(eu1.store)).length, 0, "fan-out to eu-1 was lost");
  await eu1.node.antiEntropyTick(); // eu-1's first target is eu-2: it pulls the delta
  const [entry] = await readLog(eu1.store);
  assert.equal(entry?.origin, "zone", "logged as eu-2's relay would have been");
  lose = false;
  for (let i = 0; i < 4; i++) await mesh.tick();
  await mesh.settle();
  for (const [id, origin] of [["us-1", "remote"], ["us-2", "relay"]]) {
    const log = await readLog(mesh.region(id).store);
    assert.deepEqual(log.map((e) => e.origin), [origin], `${id} got it by fan-out, once`);
  }
  const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, "room")));
  assert.equal(new Set(views).size, 1, "byte-identical views");
});

Deno.test("MeshNode anti-entropy across zones logs a pulled delta as remote and relays it to its own zone", async () => {
  let lose = false;
  // eu-1's fan-out to the us leader is lost; us-1 pulls the delta from eu-1 by anti-entropy.
  const mesh = new InProcessMesh(LAYOUT, {
    delivery: (from, to, path) =>
      lose && from === "eu-1" && to === "us-1" && path === "/v1/peer/deltas" ? "drop" : "deliver",
  });
  for (let i = 0; i < 8; i++) await mesh.tick();
  lose = true;
  const d = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 2 }]);
  assert.equal((await mesh.push("eu-1", [d]))[0].status, "accepted");
  await mesh.tick();
  const us1 = mesh.region("us-1");
  assert.equal((await readLog(us1.store)).length, 0);
  await us1.node.antiEntropyTick(); // us-1's first target is us-2, which lacks it too
  await us1.node.antiEntropyTick(); // then eu-1
  lose = false;
  assert.deepEqual((await readLog(us1.store)).map((e) => e.origin), ["remote"]);
  for (let i = 0; i < 4; i++) await mesh.tick();
  await mesh.settle();
  assert.deepEqual((await readLog(mesh.region("us-2").store)).map((e) => e.origin), ["relay"]);
  for (const id of ["eu-1", "eu-2"]) {
    assert.equal((await readLog(mesh.region(id).store)).length, 1, `${id} logged it once`);
  }
});
