/**
 * A relayed message's epoch fence is asked beside its checks and awaited only before the write
 * (`IngestOptions.beforeCommit`): a deposed leader's `/v1/peer/deltas` must still store and forward
 * nothing, and a fence that cannot be read must still fail the whole message.
 */
import assert from "node:assert/strict";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { PeerClient } from "../../src/mesh/peer_client.ts";
import { ingest } from "../../src/region/ingest.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { StoreUnavailableError } from "../../src/store/region_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { readLog } from "../support/region_log.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

async function settled(mesh: InProcessMesh, ticks = 8) {
  for (let i = 0; i < ticks; i++) await mesh.tick();
}

Deno.test("ingest's beforeCommit: a throw stores nothing and tells onAdmitted nothing", async () => {
  const store = new MemoryStore();
  const admitted: unknown[] = [];
  const delta = testAgent().sign("c", [{ op: "set", key: "x", value: 1 }]);
  await assert.rejects(
    ingest([delta], store, verifyEd25519, T0_MS, {
      beforeCommit: () => Promise.reject(new Error("fenced")),
      onAdmitted: (deltas) => admitted.push(...deltas),
    }),
    /fenced/,
  );
  assert.deepEqual(admitted, []);
  assert.equal((await readLog(store)).length, 0);
  // The same delta without the gate is accepted: the throw, not the delta, stopped it.
  const outcome = await ingest([delta], store, verifyEd25519, T0_MS, {
    beforeCommit: () => Promise.resolve(),
  });
  assert.equal(outcome.results[0].status, "accepted");
});

Deno.test("a deposed leader's relayed deltas are refused 409 by the instance that fences it, unstored and unforwarded", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  const eu1 = mesh.region("eu-1");
  const oldEpoch = eu1.node.lease.epoch;
  const second = mesh.add("eu-1", eu1.key, eu1.store, "eu-1-i2");
  mesh.nowMs += 4_000; // past the first instance's lease
  await settled(mesh, 2);
  assert.ok(second.node.lease.epoch > oldEpoch);
  const usBefore = (await readLog(mesh.region("us-1").store)).length;
  const delta = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  const stale = new PeerClient({
    self: "eu-1",
    key: eu1.key,
    now: () => mesh.nowMs,
    fetch: async (input, init) =>
      await mesh.region("eu-2").app.request(new URL(String(input)).pathname, init),
  });
  const answer = await stale.send(
    mesh.topology.region("eu-2")!,
    "/v1/peer/deltas",
    "deltas",
    oldEpoch,
    { origin: "zone", deltas: [delta] },
  );
  assert.equal(answer.ok, false);
  assert.equal(answer.status, 409);
  assert.match(String(!answer.ok && answer.error), /stale_epoch/);
  await settled(mesh, 3);
  assert.equal((await readLog(mesh.region("eu-2").store)).length, 0, "eu-2 stored nothing");
  assert.equal((await readLog(mesh.region("us-1").store)).length, usBefore, "nor passed it on");
  // The current leader's copy of the same delta goes through.
  assert.equal((await mesh.push("eu-1", [delta]))[0].status, "accepted");
  await settled(mesh, 3);
  assert.equal((await readLog(mesh.region("eu-2").store)).length, 1);
});

Deno.test("a relayed message whose fence cannot be read is answered 503 with nothing stored", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  const eu2 = mesh.region("eu-2");
  const getCursor = eu2.store.getCursor.bind(eu2.store);
  eu2.store.getCursor = (name: string) =>
    name.startsWith("epoch:")
      ? Promise.reject(new StoreUnavailableError("the store is down"))
      : getCursor(name);
  const eu1 = mesh.region("eu-1");
  const delta = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  const client = new PeerClient({
    self: "eu-1",
    key: eu1.key,
    now: () => mesh.nowMs,
    fetch: async (input, init) => await eu2.app.request(new URL(String(input)).pathname, init),
  });
  const answer = await client.send(
    mesh.topology.region("eu-2")!,
    "/v1/peer/deltas",
    "deltas",
    eu1.node.lease.epoch,
    { origin: "zone", deltas: [delta] },
  );
  assert.equal(answer.ok, false);
  assert.equal(answer.status, 503);
  assert.equal((await readLog(eu2.store)).length, 0);
});
