/**
 * Review of 02e30a1 (eager forwarding): store failures on either side of a forward. The leader
 * forwards while it commits, so its commit may fail after a peer stored the delta; a peer
 * acknowledges a forward only after its own commit, so a peer's failed store is never skipped by
 * the drain. Guards (they pass).
 */
import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/store/region_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { idOf, testAgent } from "../support/signing.ts";
import { readLog } from "../support/region_log.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

function failNextPut(mesh: InProcessMesh, region: string) {
  const store = mesh.region(region).store;
  const real = store.putDeltas.bind(store);
  let armed = true;
  store.putDeltas = (deltas, origin) => {
    if (armed) {
      armed = false;
      return Promise.reject(new StoreUnavailableError("injected commit failure"));
    }
    return real(deltas, origin);
  };
}

async function holds(mesh: InProcessMesh, region: string, id: string) {
  const page = await mesh.region(region).store.listArrivals("room", 0, 1_000);
  return page.deltas.some((d) => d.id === id);
}

Deno.test("review (guard): a leader commit that fails after the forward answers 503, and anti-entropy brings the delta back so every region ends equal", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  failNextPut(mesh, "eu-1");
  const response = await mesh.region("eu-1").app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas: [x] }),
  });
  assert.equal(response.status, 503);
  await response.body?.cancel();
  for (let i = 0; i < 4; i++) await mesh.tick();
  assert.equal(await holds(mesh, "eu-1", idOf(x)), false, "not stored where the push failed");
  assert.equal(await holds(mesh, "eu-2", idOf(x)), true, "the forward stored it at the peer");
  for (let r = 0; r < 6; r++) {
    await mesh.antiEntropy();
    await mesh.tick();
  }
  const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, "room")));
  assert.equal(new Set(views).size, 1, views.join(" / "));
  assert.equal(JSON.parse(views[0]).deltas, 1);
});

Deno.test("review (guard): a leader commit that fails after the forward, then a retried push: the drain skip set does not lose it for the third region", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  failNextPut(mesh, "eu-1");
  const first = await mesh.region("eu-1").app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas: [x] }),
  });
  assert.equal(first.status, 503);
  await first.body?.cancel();
  for (let i = 0; i < 2; i++) await mesh.tick();
  assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
  for (let i = 0; i < 8; i++) await mesh.tick(); // fan-out only
  for (const r of LAYOUT) assert.equal(await holds(mesh, r.id, idOf(x)), true, r.id);
});

Deno.test("review (guard): a peer whose store fails on a forward is not skipped: the drain delivers the delta without anti-entropy", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  failNextPut(mesh, "eu-2");
  assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
  for (let i = 0; i < 12; i++) await mesh.tick(); // fan-out only
  for (const r of LAYOUT) assert.equal(await holds(mesh, r.id, idOf(x)), true, r.id);
  const log = await readLog(mesh.region("eu-2").store);
  assert.deepEqual(log.map((e) => e.origin), ["zone"], "by fan-out, not repaired");
});

Deno.test("review (guard): a forward whose answer is lost is resent by the drain", async () => {
  let lose = false;
  const mesh = new InProcessMesh(LAYOUT, {
    delivery: (from, to) => {
      if (lose && from === "eu-1" && to === "us-1") {
        lose = false;
        return "lose-reply";
      }
      return "deliver";
    },
  });
  for (let i = 0; i < 8; i++) await mesh.tick();
  const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  const y = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "j", value: 2 }]);
  mesh.cut.add("eu-1>eu-2");
  assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
  lose = true;
  assert.equal((await mesh.push("eu-1", [y]))[0].status, "accepted");
  mesh.cut.clear();
  for (let i = 0; i < 16; i++) await mesh.tick();
  for (const r of LAYOUT) {
    assert.equal(await holds(mesh, r.id, idOf(x)), true, `${r.id} x`);
    assert.equal(await holds(mesh, r.id, idOf(y)), true, `${r.id} y`);
  }
});
