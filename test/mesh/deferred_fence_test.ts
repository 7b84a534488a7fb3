/**
 * A relayed message's epoch fence is asked beside its checks and awaited only before the write
 * (`IngestOptions.beforeCommit`), and its nonce is claimed after the write: a deposed leader's
 * `/v1/peer/deltas` must still store and forward nothing, a fence that cannot be read must still
 * fail the whole message, and a message that failed after its checks must still have its nonce
 * claimed (the review of 93e155c).
 */
import assert from "node:assert/strict";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { INDEX_CATCHUP_MIN_DELTAS } from "../../src/mesh/peer_inbox.ts";
import { ingest } from "../../src/region/ingest.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { StoreUnavailableError } from "../../src/store/region_store.ts";
import { directClient, InProcessMesh } from "../support/in_process_mesh.ts";
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
  const { client: stale } = directClient(mesh, "eu-1", "eu-2");
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
  const { client } = directClient(mesh, "eu-1", "eu-2");
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

Deno.test("a relayed message whose stored hook failed still has its nonce claimed: a replay to another instance is refused", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  const eu2 = mesh.region("eu-2");
  const hook = eu2.registry.onStored.bind(eu2.registry);
  let fail = true;
  eu2.registry.onStored = (deltas, source) => {
    if (!fail || deltas.length === 0) return hook(deltas, source);
    fail = false;
    return Promise.reject(new StoreUnavailableError("the registry's write failed"));
  };
  const { client, sent } = directClient(mesh, "eu-1", "eu-2");
  const delta = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  const answer = await client.send(
    mesh.topology.region("eu-2")!,
    "/v1/peer/deltas",
    "deltas",
    mesh.region("eu-1").node.lease.epoch,
    { origin: "zone", deltas: [delta] },
  );
  assert.equal(answer.status, 503);
  await new Promise((r) => setTimeout(r, 20)); // the claim started on the failure path
  const other = mesh.add("eu-2", eu2.key, eu2.store, "eu-2-i2");
  const replayed = await other.app.request("/v1/peer/deltas", {
    method: "POST",
    headers: sent[0].headers,
    body: sent[0].body,
  });
  assert.equal(replayed.status, 409);
  assert.match(await replayed.text(), /replayed/);
});

Deno.test("a deposed leader's large message is refused before its deltas are verified, and claims no nonce", async () => {
  let verified = 0;
  const mesh = new InProcessMesh(LAYOUT, {
    verify: (publicKey, signature, message) => {
      verified++;
      return verifyEd25519(publicKey, signature, message);
    },
  });
  await settled(mesh);
  const eu1 = mesh.region("eu-1");
  const oldEpoch = eu1.node.lease.epoch;
  mesh.add("eu-1", eu1.key, eu1.store, "eu-1-i2");
  mesh.nowMs += 4_000; // past the first instance's lease: the second takes over and beats eu-2
  await settled(mesh, 2);
  const eu2 = mesh.region("eu-2");
  const claims: string[] = [];
  const claim = eu2.store.claimNonce.bind(eu2.store);
  eu2.store.claimNonce = (key, ttlMs, nowMs) => (claims.push(key), claim(key, ttlMs, nowMs));
  const agent = testAgent(() => mesh.nowMs);
  const deltas = Array.from(
    { length: INDEX_CATCHUP_MIN_DELTAS + 1 },
    (_, i) => agent.sign("room", [{ op: "set", key: `k${i}`, value: i }]),
  );
  const { client } = directClient(mesh, "eu-1", "eu-2");
  verified = 0;
  const answer = await client.send(
    mesh.topology.region("eu-2")!,
    "/v1/peer/deltas",
    "deltas",
    oldEpoch,
    { origin: "zone", deltas },
  );
  assert.equal(answer.status, 409);
  assert.match(String(!answer.ok && answer.error), /stale_epoch/);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(verified, 1, "the message's own signature, none of its deltas'");
  assert.deepEqual(claims, [], "a message refused on its merits claims no nonce");
  assert.equal((await readLog(eu2.store)).length, 0);
});
