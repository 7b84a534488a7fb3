import assert from "node:assert/strict";
import { messageHead, SIGNATURE_HEADER, signRegionMessage } from "../../src/mesh/region_message.ts";
import * as names from "../../src/telemetry/names.ts";
import { directClient, InProcessMesh } from "../support/in_process_mesh.ts";
import { testAgent } from "../support/signing.ts";
import { collectTelemetry } from "../support/telemetry_registry.ts";
import { readLog } from "../support/region_log.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

async function settled(mesh: InProcessMesh, ticks = 8) {
  for (let i = 0; i < ticks; i++) await mesh.tick();
}

Deno.test("MeshNode fans a pushed delta out to its zone and across zones, once each", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  const agent = testAgent(() => mesh.nowMs);
  const d = agent.sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.equal((await mesh.push("eu-2", [d]))[0].status, "accepted");
  await settled(mesh, 3);
  const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, "room")));
  assert.equal(new Set(views).size, 1);
  assert.equal(JSON.parse(views[0]).deltas, 1);
  for (const r of LAYOUT) {
    const log = await readLog(mesh.region(r.id).store);
    assert.equal(log.length, 1, `${r.id} stored it once`);
  }
  // eu-2 (an agent's region) → eu-1 as zone; eu-1 leads eu → us-1 as remote.
  assert.equal((await readLog(mesh.region("eu-1").store))[0].origin, "zone");
  assert.equal((await readLog(mesh.region("us-1").store))[0].origin, "remote");
});

Deno.test("MeshNode reports a cut-off region as minority and converges by fan-out and anti-entropy after the heal", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  for (const other of ["eu-2", "us-1"]) {
    mesh.cut.add(`eu-1>${other}`);
    mesh.cut.add(`${other}>eu-1`);
  }
  await settled(mesh, 8); // 2 s of 250 ms heartbeats without answers
  const statusOf = async (id: string) =>
    await (await mesh.region(id).app.request("/v1/status")).json();
  assert.equal((await statusOf("eu-1")).partition, "minority");
  assert.equal((await statusOf("eu-2")).partition, "majority");
  const a = testAgent(() => mesh.nowMs), b = testAgent(() => mesh.nowMs);
  await mesh.push(
    "eu-1",
    Array.from({ length: 20 }, (_, i) => a.sign("room", [{ op: "inc", counter: "n", by: i }])),
  );
  await mesh.push(
    "us-1",
    Array.from({ length: 20 }, (_, i) => b.sign("room", [{ op: "inc", counter: "n", by: -i }])),
  );
  await settled(mesh, 4);
  mesh.cut.clear();
  await settled(mesh, 6);
  await mesh.antiEntropy();
  await mesh.antiEntropy();
  const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, "room")));
  assert.equal(new Set(views).size, 1, "byte-identical views");
  assert.equal(JSON.parse(views[0]).deltas, 40);
  assert.equal(JSON.parse(views[0]).counters.n, 0);
});

Deno.test("MeshNode fences a deposed leader: its old epoch is refused once the new one was seen", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  const eu1 = mesh.region("eu-1");
  const oldEpoch = eu1.node.lease.epoch;
  assert.ok(oldEpoch >= 1);
  // A second instance of eu-1 on the same store takes over once the first stops renewing.
  const second = mesh.add("eu-1", eu1.key, eu1.store, "eu-1-i2");
  mesh.nowMs += 4_000; // past the first instance's lease
  await settled(mesh, 2);
  assert.equal(second.node.lease.isLeader, true);
  assert.ok(second.node.lease.epoch > oldEpoch);
  const { client: stale } = directClient(mesh, "eu-1", "eu-2");
  const answer = await stale.send(
    mesh.topology.region("eu-2")!,
    "/v1/peer/heartbeat",
    "heartbeat",
    oldEpoch,
    {
      summary: {
        region: "eu-1",
        epoch: oldEpoch,
        logHead: 0,
        deltas: 0,
        fingerprint: "x",
        reachable: [],
        partition: "majority",
      },
    },
  );
  assert.equal(answer.ok, false);
  assert.equal(answer.status, 409);
});

Deno.test("region endpoints refuse unknown, forged, misaddressed, stale and replayed messages", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  const eu2 = mesh.region("eu-2");
  const eu1 = mesh.region("eu-1");
  const post = (body: string, signature: string) =>
    eu2.app.request("/v1/peer/deltas", {
      method: "POST",
      headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature },
      body,
    });
  const message = (overrides: Record<string, unknown> = {}) => ({
    ...messageHead("deltas", "eu-1", "eu-2", 1, mesh.nowMs),
    origin: "zone",
    deltas: [],
    ...overrides,
  });
  const signed = (m: Record<string, unknown>, key = eu1.key) =>
    signRegionMessage((b) => key.sign(b), m as ReturnType<typeof message>);
  const expect = async (response: Response, status: number, reason: RegExp) => {
    assert.equal(response.status, status);
    const problem = await response.json();
    assert.match(problem.detail, reason);
  };
  const ok = signed(message());
  assert.equal((await post(ok.body, ok.signature)).status, 200);
  await expect(await post(ok.body, ok.signature), 409, /replayed/);
  const forged = signed(message(), mesh.region("us-1").key);
  await expect(await post(forged.body, forged.signature), 403, /bad_signature/);
  const unknown = signed(message({ from: "mars-1" }));
  await expect(await post(unknown.body, unknown.signature), 403, /unknown_sender/);
  const misaddressed = signed(message({ to: "us-1" }));
  await expect(await post(misaddressed.body, misaddressed.signature), 403, /wrong_recipient/);
  const old = signed(message({ sentAtMs: mesh.nowMs - 60_000 }));
  await expect(await post(old.body, old.signature), 409, /stale_clock/);
  const wrongOrigin = signed(message({ origin: "remote" }));
  await expect(
    await post(wrongOrigin.body, wrongOrigin.signature),
    400,
    /origin "remote" is not allowed/,
  );
  const missing = await eu2.app.request("/v1/peer/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: ok.body,
  });
  assert.equal(missing.status, 403);
  await missing.body?.cancel();
  const garbage = await eu2.app.request("/v1/sync", {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: new Uint8Array([9, 9, 9]),
  });
  assert.equal(garbage.status, 400);
  await garbage.body?.cancel();
});

Deno.test("every span, metric and attribute the mesh emits is declared in the registry", async () => {
  const emitted = await collectTelemetry(async () => {
    const mesh = new InProcessMesh(LAYOUT);
    await settled(mesh);
    const agent = testAgent(() => mesh.nowMs);
    await mesh.push("eu-1", [agent.sign("room", [{ op: "del", key: "k" }])]);
    await settled(mesh, 2);
    mesh.cut.add("eu-1>eu-2");
    await mesh.push("eu-1", [agent.sign("room", [{ op: "del", key: "j" }])]);
    await settled(mesh, 2);
    mesh.cut.clear();
    await mesh.antiEntropy();
  });
  assert.deepEqual(emitted.undeclared, []);
  for (
    const name of [
      names.SPAN_HEARTBEAT,
      names.SPAN_FANOUT,
      names.SPAN_PEER_DELTAS,
      names.SPAN_ANTI_ENTROPY,
    ]
  ) {
    assert.ok(emitted.spans.has(name), `${name} was not emitted`);
  }
  for (
    const name of [names.METRIC_FANOUT_DELTAS, names.METRIC_SYNC_DELTAS, names.METRIC_HEARTBEAT_RTT]
  ) {
    assert.ok(emitted.metrics.has(name), `${name} was not emitted`);
  }
});

Deno.test("an agent catches up on a channel with POST /v1/sync?channel= and /v1/sync/fetch", async () => {
  const { IdTrie } = await import("../../src/sync/id_trie.ts");
  const { Reconciler } = await import("../../src/sync/range_reconcile.ts");
  const { decodeBase64Url, encodeBase64Url } = await import("../../src/protocol/base64url.ts");
  const { deltaId } = await import("../../src/protocol/delta.ts");
  const { utf8Encode } = await import("../../src/protocol/utf8.ts");
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  const agent = testAgent(() => mesh.nowMs);
  const all = Array.from(
    { length: 300 },
    (_, i) => agent.sign("room", [{ op: "set", key: `k${i}`, value: i }]),
  );
  for (const batch of [all.slice(0, 150), all.slice(150)]) {
    assert.ok((await mesh.push("eu-1", batch)).every((r) => r.status === "accepted"));
  }
  await mesh.push("eu-1", [agent.sign("other", [{ op: "del", key: "x" }])]);
  // The agent saw the first 250 of the channel in another region, then moved here.
  const mine = new IdTrie<string>();
  for (const d of all.slice(0, 250)) {
    mine.add(decodeBase64Url(deltaId(utf8Encode(d.body)))!, "room");
  }
  const session = new Reconciler(mine);
  const app = mesh.region("eu-1").app;
  const need: Uint8Array[] = [];
  for (let frame: Uint8Array | null = session.start(); frame !== null;) {
    const response = await app.request("/v1/sync?channel=room", {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: frame as Uint8Array<ArrayBuffer>,
    });
    assert.equal(response.status, 200);
    const step = session.receive(new Uint8Array(await response.arrayBuffer()));
    assert.deepEqual(step.have, [], "the region holds everything the agent holds");
    need.push(...step.need);
    frame = step.next;
  }
  assert.equal(need.length, 50);
  const fetched = await (await app.request("/v1/sync/fetch", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ids: need.map(encodeBase64Url) }),
  })).json();
  assert.deepEqual(
    new Set(fetched.deltas.map((d: { body: string }) => d.body)),
    new Set(all.slice(250).map((d) => d.body)),
  );
});

Deno.test("a region message is accepted only at the endpoint of its kind", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  const eu1 = mesh.region("eu-1");
  const reply = signRegionMessage((b) => eu1.key.sign(b), {
    ...messageHead("heartbeat-reply", "eu-1", "eu-2", eu1.node.lease.epoch, mesh.nowMs),
    summary: {
      region: "eu-1",
      epoch: 1,
      logHead: 0,
      deltas: 0,
      fingerprint: "x",
      reachable: [],
      partition: "majority",
    },
  });
  const response = await mesh.region("eu-2").app.request("/v1/peer/heartbeat", {
    method: "POST",
    headers: { "content-type": "application/json", [SIGNATURE_HEADER]: reply.signature },
    body: reply.body,
  });
  assert.equal(response.status, 400);
  assert.match((await response.json()).detail, /"heartbeat-reply" message cannot be sent here/);
});

Deno.test("a region message replayed to another instance of the same region is refused", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  await settled(mesh);
  const eu2 = mesh.region("eu-2");
  // A second instance of eu-2 on the same store: its in-memory replay guard is empty.
  const other = mesh.add("eu-2", eu2.key, eu2.store, "eu-2-i2");
  const eu1 = mesh.region("eu-1");
  const message = signRegionMessage((b) => eu1.key.sign(b), {
    ...messageHead("deltas", "eu-1", "eu-2", eu1.node.lease.epoch, mesh.nowMs),
    origin: "zone",
    deltas: [],
  });
  const post = (app: typeof eu2.app) =>
    app.request("/v1/peer/deltas", {
      method: "POST",
      headers: { "content-type": "application/json", [SIGNATURE_HEADER]: message.signature },
      body: message.body,
    });
  const first = await post(eu2.app);
  assert.equal(first.status, 200);
  await first.body?.cancel();
  const replay = await post(other.app);
  assert.equal(replay.status, 409);
  assert.match((await replay.json()).detail, /replayed/);
});
