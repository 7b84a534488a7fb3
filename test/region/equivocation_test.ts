import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import {
  checkProofShape,
  EQUIVOCATIONS_CHANNEL,
  proofValue,
} from "../../src/protocol/equivocation.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { bodyOf, idOf, signBody, T0_MS } from "../support/signing.ts";

function region(store = new MemoryStore()) {
  return { app: createRegionApp({ region: "test-1", store, now: () => T0_MS }), store };
}

type App = ReturnType<typeof region>["app"];

async function push(app: App, deltas: unknown[]) {
  const response = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).results as Record<string, unknown>[];
}

async function view(app: App, channel: string) {
  const response = await app.request(`/v1/channels/${channel}`);
  assert.equal(response.status, 200);
  return await response.json();
}

/** A signed delta of `key` in channel `c` with overrides. */
function signed(key: AgentKey, overrides: Record<string, unknown> = {}): Envelope {
  return signBody(key, JSON.stringify(bodyOf(key, overrides)));
}

/** Two deltas of `key` at seq 1 in channel `c` with different bodies. */
function conflicting(key: AgentKey): [Envelope, Envelope] {
  return [
    signed(key, { ops: [{ op: "set", key: "k", value: "first" }] }),
    signed(key, { ops: [{ op: "set", key: "k", value: "second" }] }),
  ];
}

/** A `_equivocations` delta signed by `publisher` carrying `value` under `author`. */
function proofDelta(
  publisher: AgentKey,
  author: string,
  value: unknown,
  overrides: Record<string, unknown> = {},
): Envelope {
  return signed(publisher, {
    channel: EQUIVOCATIONS_CHANNEL,
    ops: [{ op: "set", key: author, value }],
    ...overrides,
  });
}

function sortedProof(x: Envelope, y: Envelope) {
  return proofValue({ ...x, id: idOf(x) }, { ...y, id: idOf(y) });
}

Deno.test("equivocation: a conflicting second delta is seq_conflict, kept beside the first as evidence, and listed as an equivocation", async () => {
  const { app, store } = region();
  const cheat = AgentKey.generate();
  const [first, second] = conflicting(cheat);
  assert.equal((await push(app, [first]))[0].status, "accepted");
  const [r] = await push(app, [second]);
  assert.equal(r.status, "rejected");
  assert.equal(r.reason, "seq_conflict");
  // Both halves are in the delta set, so every region that holds it ends with both.
  const stored = (await store.listArrivals("c", 0, 10)).deltas;
  assert.deepEqual(stored.map((d) => d.id), [idOf(first), idOf(second)]);
  const { entries } = await store.listEquivocations(0, 10);
  assert.deepEqual(entries.map((e) => [e.author, e.id, e.existingId]), [
    [cheat.id, idOf(second), idOf(first)],
  ]);
  // A retry of what is stored is a duplicate, even from a quarantined author; anything new of
  // it is refused. The region publishes no proof of its own: the pair is the evidence.
  assert.equal((await push(app, [second]))[0].status, "duplicate");
  const third = signed(cheat, { seq: 2, ops: [{ op: "set", key: "k", value: "third" }] });
  assert.equal((await push(app, [third]))[0].reason, "quarantined");
  assert.equal((await store.listArrivals(EQUIVOCATIONS_CHANNEL, 0, 10)).deltas.length, 0);
  // Anyone can still check the pair as a proof from the two envelopes alone.
  const shape = checkProofShape(cheat.id, sortedProof(first, second));
  assert.ok(shape.ok);
  for (const s of shape.signatures) {
    assert.ok(await verifyEd25519(s.publicKey, s.signature, s.message));
  }
});

Deno.test("equivocation: the author's next delta is quarantined and views exclude its earlier deltas", async () => {
  const { app } = region();
  const cheat = AgentKey.generate();
  const honest = AgentKey.generate();
  const [first, second] = conflicting(cheat);
  const earlier = signed(cheat, { seq: 2, ops: [{ op: "inc", counter: "n", by: 5 }] });
  const fine = signed(honest, { ops: [{ op: "inc", counter: "n", by: 1 }] });
  await push(app, [first, earlier, fine]);
  const before = await view(app, "c");
  assert.equal(before.deltas, 3);
  assert.equal(before.counters.n, 6);
  await push(app, [second]);
  const [next] = await push(app, [
    signed(cheat, { seq: 3, ops: [{ op: "set", key: "x", value: 1 }] }),
  ]);
  assert.equal(next.status, "rejected");
  assert.equal(next.reason, "quarantined");
  // In another channel too.
  const [elsewhere] = await push(app, [signed(cheat, { channel: "other" })]);
  assert.equal(elsewhere.reason, "quarantined");
  const after = await view(app, "c");
  assert.equal(after.deltas, 1);
  assert.equal(after.counters.n, 1);
  assert.equal(after.map.k, undefined);
  assert.equal(after.heads[cheat.id], undefined);
  assert.deepEqual(Object.keys(after.heads), [honest.id]);
});

Deno.test("equivocation: a region's view equals a fresh region's fold of the same delta set", async () => {
  const a = region();
  const cheat = AgentKey.generate();
  const honest = AgentKey.generate();
  const [first, second] = conflicting(cheat);
  const fine = signed(honest, { ops: [{ op: "set", key: "h", value: 1 }] });
  await push(a.app, [first, fine]);
  await view(a.app, "c"); // cache the unfiltered fold first
  await push(a.app, [second]);
  // b receives the same delta set (the three stored deltas, both halves) in another order.
  const b = region();
  const rest = (await a.store.listArrivals("c", 0, 10)).deltas.map(({ body, sig }) => ({
    body,
    sig,
  }));
  assert.equal(rest.length, 3);
  const results = await push(b.app, rest.reverse());
  assert.deepEqual(results.map((r) => r.reason ?? r.status), [
    "accepted",
    "accepted",
    "seq_conflict",
  ]);
  const text = async (app: App) => await (await app.request("/v1/channels/c")).text();
  assert.equal(await text(a.app), await text(b.app));
});

Deno.test("equivocation: forged proofs are bad_proof", async () => {
  const { app, store } = region();
  const cheat = AgentKey.generate();
  const publisher = AgentKey.generate();
  const [first, second] = conflicting(cheat);
  const other = AgentKey.generate();
  const badSig = { body: second.body, sig: signBody(other, second.body).sig };
  const cases: [string, unknown, string?][] = [
    ["one bad signature", sortedProof(first, { ...badSig })],
    ["same body twice", { a: first, b: first }],
    [
      "different seq",
      sortedProof(first, signed(cheat, { seq: 2, ops: [{ op: "set", key: "k", value: 2 }] })),
    ],
    [
      "different channel",
      sortedProof(first, signed(cheat, { channel: "d", ops: [{ op: "set", key: "k", value: 2 }] })),
    ],
    [
      "unsorted halves",
      (() => {
        const p = sortedProof(first, second);
        return { a: p.b, b: p.a };
      })(),
    ],
    ["filed under another author", sortedProof(first, second), other.id],
    [
      "halves by another author",
      (() => {
        const [x, y] = conflicting(other);
        return sortedProof(x, y);
      })(),
    ],
    ["extra member", { ...sortedProof(first, second), c: 1 }],
    ["not an object", "proof"],
    ["a half that is not an envelope", { a: first, b: { body: second.body } }],
  ];
  for (const [name, value, under] of cases) {
    const [r] = await push(app, [proofDelta(publisher, under ?? cheat.id, value)]);
    assert.equal(r.status, "rejected", name);
    assert.equal(r.reason, "bad_proof", name);
  }
  assert.equal((await store.listArrivals(EQUIVOCATIONS_CHANNEL, 0, 10)).deltas.length, 0);
  // The region does not hold a proof: the author is not quarantined.
  assert.equal((await push(app, [first]))[0].status, "accepted");
});

Deno.test("equivocation: only set ops keyed by an author id are allowed in _equivocations", async () => {
  const { app } = region();
  const cheat = AgentKey.generate();
  const publisher = AgentKey.generate();
  const [first, second] = conflicting(cheat);
  const proof = sortedProof(first, second);
  const cases: [string, unknown[]][] = [
    ["del", [{ op: "del", key: cheat.id }]],
    ["inc", [{ op: "inc", counter: cheat.id, by: 1 }]],
    ["add", [{ op: "add", set: cheat.id, elem: "x" }]],
    ["a key that is not an author id", [{ op: "set", key: "mallory", value: proof }]],
    ["a valid proof then a del", [{ op: "set", key: cheat.id, value: proof }, {
      op: "del",
      key: cheat.id,
    }]],
  ];
  for (const [name, ops] of cases) {
    const [r] = await push(app, [
      signed(publisher, { channel: EQUIVOCATIONS_CHANNEL, ops }),
    ]);
    assert.equal(r.status, "rejected", name);
    assert.equal(r.reason, "bad_proof", name);
  }
  // Other system channels stay reserved.
  const [reserved] = await push(app, [signed(publisher, { channel: "_system" })]);
  assert.equal(reserved.reason, "reserved_channel");
  // A valid proof from any signer is accepted and quarantines the author.
  const [ok] = await push(app, [proofDelta(publisher, cheat.id, proof)]);
  assert.equal(ok.status, "accepted");
  assert.equal((await push(app, [first]))[0].reason, "quarantined");
});

Deno.test("equivocation: every further body for a taken seq is stored, and the author's later pushes are quarantined", async () => {
  const { app, store } = region();
  const cheat = AgentKey.generate();
  const [first, second] = conflicting(cheat);
  const third = signed(cheat, { ops: [{ op: "set", key: "k", value: "third" }] });
  const results = await push(app, [first, second, third]);
  assert.deepEqual(results.map((r) => r.reason ?? r.status), [
    "accepted",
    "seq_conflict",
    "seq_conflict",
  ]);
  assert.equal((await store.listArrivals("c", 0, 10)).deltas.length, 3);
  assert.equal((await store.listEquivocations(0, 10)).entries.length, 2);
  // The author's further pushes are refused before they reach the store.
  const fourth = signed(cheat, { ops: [{ op: "set", key: "k", value: "fourth" }] });
  assert.equal((await push(app, [fourth]))[0].reason, "quarantined");
  assert.equal((await store.listArrivals("c", 0, 10)).deltas.length, 3);
  // A proof an agent files for the same author is accepted: proofs are evidence from anyone.
  const [again] = await push(app, [
    proofDelta(AgentKey.generate(), cheat.id, sortedProof(first, third)),
  ]);
  assert.equal(again.status, "accepted");
});

Deno.test("equivocation: both halves replicate through the mesh; every region quarantines and renders the same views", async () => {
  const layout = [
    { id: "eu-1", zone: "eu" },
    { id: "eu-2", zone: "eu" },
    { id: "us-1", zone: "us" },
  ];
  const mesh = new InProcessMesh(layout);
  const settled = async (ticks = 8) => {
    for (let i = 0; i < ticks; i++) await mesh.tick();
  };
  await settled();
  const cheat = AgentKey.generate();
  const honest = AgentKey.generate();
  const body = (key: AgentKey, o: Record<string, unknown>) =>
    signed(key, { ts: mesh.nowMs, channel: "room", ...o });
  const first = body(cheat, { ops: [{ op: "set", key: "k", value: "first" }] });
  const second = body(cheat, { ops: [{ op: "set", key: "k", value: "second" }] });
  const fine = body(honest, { ops: [{ op: "inc", counter: "n", by: 1 }] });
  assert.deepEqual((await mesh.push("eu-2", [first, fine])).map((r) => r.status), [
    "accepted",
    "accepted",
  ]);
  await settled(3);
  for (const r of layout) assert.equal(JSON.parse(await mesh.view(r.id, "room")).deltas, 2);
  // The cheat tells us-1 another story at the same seq.
  const [conflict] = await mesh.push("us-1", [second]) as { status: string; reason?: string }[];
  assert.equal(conflict.reason, "seq_conflict");
  await settled(8);
  await mesh.antiEntropy();
  await mesh.antiEntropy();
  for (const r of layout) {
    const stored = (await mesh.region(r.id).store.listArrivals("room", 0, 10)).deltas;
    assert.deepEqual(
      stored.map((d) => d.id).sort(),
      [idOf(first), idOf(second), idOf(fine)].sort(),
      `${r.id} holds both halves`,
    );
    const [next] = await mesh.push(r.id, [
      body(cheat, { seq: 2, ops: [{ op: "set", key: "x", value: 1 }] }),
    ]) as { status: string; reason?: string }[];
    assert.equal(next.reason, "quarantined", r.id);
  }
  const views = await Promise.all(layout.map((r) => mesh.view(r.id, "room")));
  assert.equal(new Set(views).size, 1, "byte-identical views");
  const room = JSON.parse(views[0]);
  assert.equal(room.deltas, 1);
  assert.equal(room.counters.n, 1);
  assert.equal(room.map.k, undefined);
});
