/**
 * The attacks of issue 8 items 1 and 2, which split the mesh for good on the code before: an
 * equivocation inside a system channel (`_equivocations`, `_certificates`) told to two regions at
 * once, and a peer whose answers made a region stop offering a delta to everyone. Afterwards
 * every honest region must hold the same delta set and render the same views.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { certificateMessage, CERTIFICATES_CHANNEL } from "../../src/protocol/certificate.ts";
import { EQUIVOCATIONS_CHANNEL, proofValue } from "../../src/protocol/equivocation.ts";
import { parseAdmission } from "../../src/guard/admission.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { RegionIndex } from "../../src/mesh/region_index.ts";
import type { PeerClient } from "../../src/mesh/peer_client.ts";
import { ingest } from "../../src/region/ingest.ts";
import type { RegionInfo } from "../../src/mesh/topology.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { bodyOf, idOf, signBody, T0_MS } from "../support/signing.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

function signed(key: AgentKey, overrides: Record<string, unknown>): Envelope {
  return signBody(key, JSON.stringify(bodyOf(key, overrides)));
}

/** A proof against a fresh sock-puppet key (its two deltas are never pushed anywhere). */
function puppetProof(ts: number) {
  const puppet = AgentKey.generate();
  const [a, b] = ["one", "two"].map((v) =>
    signed(puppet, { channel: "room", ts, ops: [{ op: "set", key: "k", value: v }] })
  );
  return { puppet, value: proofValue({ ...a, id: idOf(a) }, { ...b, id: idOf(b) }) };
}

async function converge(mesh: InProcessMesh) {
  for (let i = 0; i < 10; i++) await mesh.tick();
  for (let i = 0; i < 3; i++) await mesh.antiEntropy();
  for (let i = 0; i < 4; i++) await mesh.tick();
}

async function storedIds(mesh: InProcessMesh, region: string, channel: string) {
  const page = await mesh.region(region).store.listArrivals(channel, 0, 1_000);
  return page.deltas.map((d) => d.id).sort();
}

Deno.test("split attack: two proofs at one seq told to two regions at once end in one quarantine and equal sets everywhere", async () => {
  const mesh = new InProcessMesh(LAYOUT);
  for (let i = 0; i < 8; i++) await mesh.tick();
  const x = puppetProof(mesh.nowMs), z = puppetProof(mesh.nowMs);
  const cheat = AgentKey.generate(); // signs both proofs at seq 1
  const proof = (p: typeof x) =>
    signed(cheat, {
      channel: EQUIVOCATIONS_CHANNEL,
      ts: mesh.nowMs,
      ops: [{ op: "set", key: p.puppet.id, value: p.value }],
    });
  // The puppets and an honest agent write in a room before anyone knows.
  const honest = AgentKey.generate();
  const room = (key: AgentKey, seq: number, value: number) =>
    signed(key, {
      channel: "room",
      seq,
      ts: mesh.nowMs,
      ops: [{ op: "inc", counter: "n", by: value }],
    });
  await mesh.push("eu-1", [room(x.puppet, 3, 10), room(honest, 1, 1)]);
  await mesh.push("us-1", [room(z.puppet, 3, 100)]);
  const [p1, p2] = [proof(x), proof(z)];
  // "At the same moment": each region stores its proof before it can hear of the other.
  for (const a of LAYOUT) for (const b of LAYOUT) mesh.cut.add(`${a.id}>${b.id}`);
  assert.deepEqual((await mesh.push("eu-1", [p1])).map((r) => r.status), ["accepted"]);
  assert.deepEqual((await mesh.push("eu-2", [p2])).map((r) => r.status), ["accepted"]);
  mesh.cut.clear();
  await converge(mesh);

  const proofs = await Promise.all(LAYOUT.map((r) => storedIds(mesh, r.id, EQUIVOCATIONS_CHANNEL)));
  for (const ids of proofs) assert.deepEqual(ids, [idOf(p1), idOf(p2)].sort());
  const rooms = await Promise.all(LAYOUT.map((r) => storedIds(mesh, r.id, "room")));
  assert.equal(new Set(rooms.map((ids) => ids.join())).size, 1, "equal room sets");
  for (const channel of ["room", EQUIVOCATIONS_CHANNEL]) {
    const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, channel)));
    assert.equal(new Set(views).size, 1, `byte-identical ${channel} views`);
  }
  assert.equal(JSON.parse(await mesh.view("eu-2", "room")).counters.n, 1);
  // Both puppets and the cheat itself are quarantined in every region.
  for (const r of LAYOUT) {
    for (const key of [x.puppet, z.puppet, cheat]) {
      const [next] = await mesh.push(r.id, [room(key, 9, 1)]) as { reason?: string }[];
      assert.equal(next.reason, "quarantined", `${r.id} quarantines ${key.id}`);
    }
  }
});

Deno.test("split attack: two certificate deltas at one seq told to two regions at once admit alike everywhere", async () => {
  const operator = AgentKey.generate();
  const admission = parseAdmission(
    JSON.stringify({
      v: 1,
      operators: [operator.id],
      channels: [{ match: "gated", policy: "certificate" }],
    }),
    "test.json",
  );
  const mesh = new InProcessMesh(LAYOUT, { admission });
  for (let i = 0; i < 8; i++) await mesh.tick();
  const carrier = AgentKey.generate(); // publishes both certificates at seq 1
  const expires = mesh.nowMs + 60_000;
  const certificate = (author: AgentKey) => {
    const body = JSON.stringify({ v: 1, author: author.id, channels: ["gated"], expires });
    const sig = encodeBase64Url(operator.sign(certificateMessage(body)));
    return signed(carrier, {
      channel: CERTIFICATES_CHANNEL,
      ts: mesh.nowMs,
      ops: [{ op: "set", key: author.id, value: { body, sig } }],
    });
  };
  const [y, w] = [AgentKey.generate(), AgentKey.generate()];
  for (const a of LAYOUT) for (const b of LAYOUT) mesh.cut.add(`${a.id}>${b.id}`);
  assert.deepEqual((await mesh.push("eu-1", [certificate(y)])).map((r) => r.status), ["accepted"]);
  assert.deepEqual((await mesh.push("eu-2", [certificate(w)])).map((r) => r.status), ["accepted"]);
  const gated = (key: AgentKey) =>
    signed(key, { channel: "gated", ts: mesh.nowMs, ops: [{ op: "set", key: key.id, value: 1 }] });
  assert.deepEqual((await mesh.push("eu-1", [gated(y)])).map((r) => r.status), ["accepted"]);
  assert.deepEqual((await mesh.push("eu-2", [gated(w)])).map((r) => r.status), ["accepted"]);
  mesh.cut.clear();
  await converge(mesh);

  const certs = await Promise.all(LAYOUT.map((r) => storedIds(mesh, r.id, CERTIFICATES_CHANNEL)));
  assert.equal(new Set(certs.map((ids) => ids.join())).size, 1, "equal certificate sets");
  assert.equal(certs[0].length, 2);
  const views = await Promise.all(LAYOUT.map((r) => mesh.view(r.id, "gated")));
  assert.equal(new Set(views).size, 1, "byte-identical gated views");
  assert.equal(JSON.parse(views[0]).deltas, 2);
  // Every region admits both authors from now on, by the same two certificates.
  for (const [i, r] of LAYOUT.entries()) {
    for (const key of [y, w]) {
      const more = signed(key, { channel: "gated", seq: 2 + i, ts: mesh.nowMs });
      const [result] = await mesh.push(r.id, [more]) as { status: string }[];
      assert.equal(result.status, "accepted", `${r.id} admits ${key.id}`);
    }
  }
});

/** A peer reached through functions: its sync answers from `index`, pushes into `store`. */
function peerOf(
  store: MemoryStore,
  index: RegionIndex,
  answer: (results: unknown[]) => unknown[] = (r) => r,
) {
  const fetchFn = (async (input: string | URL | Request, init?: RequestInit) => {
    const path = new URL(String(input)).pathname;
    const bytes = new Uint8Array(await new Response(init!.body).arrayBuffer());
    if (path === "/v1/sync") return new Response(await index.respond(bytes) as BodyInit);
    const { ids } = JSON.parse(new TextDecoder().decode(bytes));
    return Response.json({ deltas: await index.fetch(ids) });
  }) as typeof fetch;
  const client = {
    async send(_peer: RegionInfo, _path: string, _kind: string, _epoch: number, fields: {
      deltas: unknown[];
    }) {
      const out = await ingest(fields.deltas, store, verifyEd25519, T0_MS, { origin: "sync" });
      return { ok: true, status: 200, body: { results: answer(out.results) }, rttMs: 0 };
    },
  } as unknown as PeerClient;
  return { fetch: fetchFn, client };
}

Deno.test("split attack: what a lying peer answers never stops a region offering a delta to an honest one", async () => {
  const key = AgentKey.generate();
  const deltas = [1, 2, 3].map((seq) => signed(key, { channel: "room", seq }));
  const home = new MemoryStore();
  await ingest(deltas, home, verifyEd25519, T0_MS);
  const index = new RegionIndex(home);
  // The liar stores nothing and answers every pushed delta with a seq_conflict (its answers are
  // its own, so signing them does not help: it holds a valid region key).
  const liarStore = new MemoryStore();
  const liar = peerOf(liarStore, new RegionIndex(liarStore), (results) =>
    results.map((r) => ({
      ...(r as object),
      status: "rejected",
      reason: "seq_conflict",
      detail: "forged",
    })));
  const honestStore = new MemoryStore();
  const honest = peerOf(honestStore, new RegionIndex(honestStore));
  const session = (peer: ReturnType<typeof peerOf>, id: string) =>
    index.reconcileWith({ id, zone: "eu", url: `http://${id}.test` } as RegionInfo, {
      client: peer.client,
      fetch: peer.fetch,
      epoch: 1,
      verify: verifyEd25519,
      now: () => T0_MS,
    });
  const lied = await session(liar, "liar");
  assert.ok(lied.ok);
  assert.equal(lied.pushed, 3);
  const told = await session(honest, "honest");
  assert.ok(told.ok, told.error);
  assert.equal(told.pushed, 3, "every delta still offered to the honest peer");
  const stored = (await honestStore.listArrivals("room", 0, 10)).deltas.map((d) => d.id);
  assert.deepEqual(stored.sort(), deltas.map(idOf).sort());
});
