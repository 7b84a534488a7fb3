/**
 * Review of 02e30a1: a peer now claims a `/v1/peer/deltas` message's nonce in the store while it
 * ingests the message, not before, and refuses a replay "after the fact". What a replay to another
 * instance of the region (the in-memory guard is per instance) can still do. Guards (they pass);
 * the second test pins the one behaviour that changed.
 */
import assert from "node:assert/strict";
import { StoreUnavailableError } from "../../src/store/region_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { idOf, testAgent } from "../support/signing.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "us-1", zone: "us" },
  { id: "us-2", zone: "us" },
];

interface Captured {
  readonly body: string;
  readonly headers: Headers;
}

/**
 * A mesh whose eu-1 → us-1 peer messages are recorded; with `spoil` set, the next one is
 * delivered with a broken signature (refused before any claim or ingest) so the captured original
 * stays fresh (with `spoilAfter`, every later one too: the drain cannot deliver). Also counts peer messages us-1 sends.
 */
function capturingMesh() {
  const captured: Captured[] = [];
  const state = { spoil: false, spoilAfter: false, fromUs1: 0 };
  const mesh = new InProcessMesh(LAYOUT, {
    intercept: (from, to, path, init) => {
      if (path !== "/v1/peer/deltas") return init;
      if (from === "us-1") state.fromUs1++;
      if (from !== "eu-1" || to !== "us-1") return init;
      const headers = new Headers(init.headers);
      captured.push({ body: String(init.body), headers: new Headers(headers) });
      const spoil = state.spoil;
      state.spoil = state.spoilAfter;
      if (!spoil) return init;
      headers.set("mesh-signature", "A".repeat(86));
      return { ...init, headers };
    },
  });
  return { mesh, captured, state };
}

function replay(
  app: { request: (p: string, i: RequestInit) => Response | Promise<Response> },
  m: Captured,
) {
  return app.request("/v1/peer/deltas", { method: "POST", headers: m.headers, body: m.body });
}

async function holds(mesh: InProcessMesh, region: string, id: string) {
  const page = await mesh.region(region).store.listArrivals("room", 0, 1_000);
  return page.deltas.some((d) => d.id === id);
}

Deno.test("review (guard): a relayed message replayed to another instance is refused and changes nothing: no log entry, no relay, no stored hook", async () => {
  const { mesh, captured, state } = capturingMesh();
  for (let i = 0; i < 8; i++) await mesh.tick();
  const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
  for (let i = 0; i < 4; i++) await mesh.tick();
  assert.equal(await holds(mesh, "us-2", idOf(x)), true);
  const original = captured.find((m) => m.body.includes(JSON.stringify(x.body).slice(1, 40)))!;
  assert.ok(original !== undefined);
  const us1 = mesh.region("us-1");
  const head = await us1.store.logHead();
  const sentBefore = state.fromUs1;
  let hooked = 0;
  const other = mesh.add("us-1", us1.key, us1.store, "us-1-i2");
  mesh.regions.set("us-1", us1);
  const realHook = other.registry.onStored.bind(other.registry);
  other.registry.onStored = (deltas, source) => {
    if (deltas.length > 0) hooked++;
    return realHook(deltas, source);
  };
  const response = await replay(other.app, original);
  assert.equal(response.status, 409);
  assert.match(await response.text(), /replayed: this message was already received/);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await us1.store.logHead(), head, "nothing logged");
  assert.equal(state.fromUs1, sentBefore, "nothing relayed");
  assert.equal(hooked, 0, "no stored hook (liveness, registry) ran");
});

Deno.test("review (guard): a replay of a message whose original failed to commit now stores its (author-signed) deltas before it is refused; the mesh still ends equal", async () => {
  const { mesh, captured, state } = capturingMesh();
  for (let i = 0; i < 8; i++) await mesh.tick();
  captured.length = 0;
  const us1 = mesh.region("us-1");
  const real = us1.store.putDeltas.bind(us1.store);
  let fail = true;
  us1.store.putDeltas = (deltas, origin) => {
    if (fail) {
      fail = false;
      return Promise.reject(new StoreUnavailableError("injected"));
    }
    return real(deltas, origin);
  };
  state.spoilAfter = true; // the drain's resends are refused: only the original reaches us-1
  const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(await holds(mesh, "us-1", idOf(x)), false, "the forward's commit failed at us-1");
  const original = captured[0];
  state.spoil = state.spoilAfter = false;
  const other = mesh.add("us-1", us1.key, us1.store, "us-1-i2");
  mesh.regions.set("us-1", us1);
  const response = await replay(other.app, original);
  assert.equal(response.status, 409, "the replay is refused");
  assert.match(await response.text(), /replayed/);
  // Changed by 02e30a1 (before, the claim came first and nothing was stored): the replay's
  // deltas are stored under the replayed message's origin. They are valid signed deltas that
  // fan-out resends anyway, so this is not harmful to convergence.
  assert.equal(await holds(mesh, "us-1", idOf(x)), true);
  for (let i = 0; i < 8; i++) await mesh.tick();
  await mesh.antiEntropy();
  const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, "room")));
  assert.equal(new Set(views).size, 1);
});

Deno.test("review (guard): a message replayed from a deposed leader's epoch is fenced before its deltas are ingested", async () => {
  const { mesh, captured, state } = capturingMesh();
  for (let i = 0; i < 8; i++) await mesh.tick();
  const eu1 = mesh.region("eu-1");
  const epoch = eu1.node.lease.epoch;
  captured.length = 0;
  state.spoil = state.spoilAfter = true; // us-1 refuses them all; the captured original is unused
  const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
  await new Promise((r) => setTimeout(r, 20));
  const original = captured[0];
  assert.equal(JSON.parse(original.body).epoch, epoch);
  assert.equal(await holds(mesh, "us-1", idOf(x)), false);
  // Leadership moves to a second instance of eu-1 (epoch + 1), which heartbeats us-1.
  await eu1.node.lease.release();
  const successor = mesh.add("eu-1", eu1.key, eu1.store, "eu-1-i2");
  await successor.node.leaseTick();
  assert.equal(successor.node.lease.epoch, epoch + 1);
  await successor.node.heartbeatTick();
  const us1 = mesh.region("us-1");
  const other = mesh.add("us-1", us1.key, us1.store, "us-1-i2");
  const response = await replay(other.app, original);
  assert.equal(response.status, 409);
  assert.match(await response.text(), /stale_epoch/);
  assert.equal(await holds(mesh, "us-1", idOf(x)), false, "nothing ingested from the old epoch");
});
