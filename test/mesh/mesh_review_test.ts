/**
 * Regressions of the multi-region review (each a scenario that once lost or blocked deltas).
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { deltaId, signedMessage } from "../../src/protocol/delta.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import { SYNC_SESSION_DELTAS_MAX } from "../../src/mesh/region_index.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { StoredDelta } from "../../src/store/region_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { testAgent } from "../support/signing.ts";
import { readLog } from "../support/region_log.ts";

const ZONE = [{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }];

function stored(envelope: Envelope): StoredDelta {
  const b = JSON.parse(envelope.body);
  return {
    id: deltaId(utf8Encode(envelope.body)),
    channel: b.channel,
    author: b.author,
    seq: b.seq,
    ...envelope,
  };
}

async function status(mesh: InProcessMesh, id: string) {
  return await (await mesh.region(id).app.request("/v1/status")).json();
}

Deno.test("fan-out splits large deltas into messages a peer accepts, instead of wedging on one", async () => {
  const mesh = new InProcessMesh(ZONE);
  for (let i = 0; i < 8; i++) await mesh.tick();
  mesh.cut.add("eu-2>eu-1");
  const agent = testAgent(() => mesh.nowMs);
  for (let p = 0; p < 3; p++) {
    const big = Array.from(
      { length: 60 },
      (_, i) => agent.sign("room", [{ op: "set", key: `k${i}`, value: '\\"'.repeat(3_500) }]),
    );
    assert.ok((await mesh.push("eu-2", big)).every((r) => r.status === "accepted"));
  }
  await mesh.tick();
  mesh.cut.clear();
  for (let i = 0; i < 12; i++) await mesh.tick();
  const peer = (await status(mesh, "eu-2")).peers.find((p: { id: string }) => p.id === "eu-1");
  assert.equal(peer.outboxDepth, 0);
  const log = await readLog(mesh.region("eu-1").store);
  assert.equal(log.length, 180);
  assert.ok(
    log.every((e) => e.origin === "zone"),
    "delivered by fan-out, not only repaired",
  );
});

Deno.test("anti-entropy still runs under steady write load", async () => {
  const writers = new Map<string, ReturnType<typeof testAgent>>();
  const mesh: InProcessMesh = new InProcessMesh(ZONE, {
    // A write lands at the sender while each of its requests is in flight: fan-out never empties.
    delivery: (from) => {
      mesh.region(from).store.putDeltas([
        stored(writers.get(from)!.sign("busy", [{ op: "inc", counter: "n", by: 1 }])),
      ]);
      return "deliver";
    },
  });
  for (const r of ZONE) writers.set(r.id, testAgent(() => mesh.nowMs));
  for (let i = 0; i < 8; i++) await mesh.tick();
  // X reached eu-1 by anti-entropy (origin sync): fan-out never forwards it, only anti-entropy can.
  const x = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "x", value: 1 }]);
  await mesh.region("eu-1").store.putDeltas([stored(x)], "sync");
  for (let round = 0; round < 64; round++) { // 16 s: past ANTI_ENTROPY_DEFER_MS_MAX
    await mesh.tick();
    if (round % 4 === 0) await mesh.antiEntropy();
  }
  assert.equal(JSON.parse(await mesh.view("eu-2", "room")).deltas, 1);
});

Deno.test("equivocating pairs do not crowd genuine deltas out of anti-entropy", async () => {
  const mesh = new InProcessMesh(ZONE);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const key = AgentKey.generate();
  const half = (seq: number, v: string): StoredDelta => {
    const body = JSON.stringify({
      v: 1,
      author: key.id,
      seq,
      channel: "spam",
      ts: mesh.nowMs,
      lc: 0,
      ops: [{ op: "set", key: "k", value: v }],
    });
    return stored({ body, sig: encodeBase64Url(key.sign(signedMessage(utf8Encode(body)))) });
  };
  const pairs = SYNC_SESSION_DELTAS_MAX + 100;
  for (let s = 1; s <= pairs; s += 500) {
    const seqs = Array.from({ length: Math.min(500, pairs - s + 1) }, (_, i) => s + i);
    await mesh.region("eu-1").store.putDeltas(seqs.map((q) => half(q, "a")));
    await mesh.region("eu-2").store.putDeltas(seqs.map((q) => half(q, "b")));
  }
  for (const [from, to] of [["eu-1", "eu-2"], ["eu-2", "eu-1"]]) {
    await mesh.region(from).store.advanceCursor(
      `fanout:${to}`,
      await mesh.region(from).store.logHead(),
    );
  }
  const g = testAgent(() => mesh.nowMs);
  await mesh.region("eu-1").store.putDeltas(
    Array.from(
      { length: 50 },
      (_, i) => stored(g.sign("room", [{ op: "set", key: `g${i}`, value: i }])),
    ),
    "sync",
  );
  for (let r = 0; r < 6; r++) {
    await mesh.tick();
    await mesh.antiEntropy();
  }
  assert.equal(JSON.parse(await mesh.view("eu-2", "room")).deltas, 50);
});

Deno.test("a region whose store was reset (epochs restart at 1) is fenced only until the old epoch has been silent for a while", async () => {
  const mesh = new InProcessMesh([...ZONE, { id: "us-1", zone: "us" }]);
  for (let i = 0; i < 8; i++) await mesh.tick();
  for (let k = 0; k < 3; k++) { // ordinary hand-overs: eu-2's epoch climbs to 4
    await mesh.region("eu-2").node.lease.release();
    for (let i = 0; i < 4; i++) await mesh.tick();
  }
  assert.ok(mesh.region("eu-2").node.lease.epoch >= 4);
  const old = mesh.region("eu-2");
  mesh.add("eu-2", old.key, new MemoryStore(), "eu-2-reset");
  for (let i = 0; i < 60; i++) await mesh.tick(); // 15 s: past four 3 s leases
  const agent = testAgent(() => mesh.nowMs);
  await mesh.push("eu-2", [agent.sign("room", [{ op: "set", key: "k", value: 1 }])]);
  for (let i = 0; i < 4; i++) await mesh.tick();
  const seen = (await status(mesh, "eu-1")).peers.find((p: { id: string }) => p.id === "eu-2");
  assert.equal(seen.reachable, true);
  const log = await readLog(mesh.region("eu-1").store);
  assert.deepEqual(log.map((e) => e.origin), ["zone"], "fan-out from eu-2 works again");
});
