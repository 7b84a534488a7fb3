import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import { DISCOVER_SCAN_ENTRIES_MAX } from "../../src/registry/discovery.ts";
import { seenKey } from "../../src/registry/index_layout.ts";
import { SEEN_WRITE_INTERVAL_MS } from "../../src/registry/liveness.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { announce, card, discover, discoverAll, push, withdraw } from "./_cards.ts";

/** A standalone region over a MemoryStore whose clock (and the agents' clocks) the test moves. */
function region(staleMs = 600_000) {
  const store = new MemoryStore();
  const clock = { now: T0_MS };
  const registry = new Registry({ region: "eu-1", store, now: () => clock.now, staleMs });
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now, registry });
  const agent = () => testAgent(() => clock.now);
  return { store, clock, registry, app, agent };
}

/** The fold of `_registry` (what its view would be: it has none over HTTP). */
async function registryFold(store: MemoryStore) {
  return JSON.parse((await new ChannelViews(store).read(REGISTRY_CHANNEL)).state.viewText());
}

Deno.test("GET /v1/agents finds agents by skill, by every tag and by words, newest first", async () => {
  const { app, clock, agent } = region();
  const a = agent(), b = agent(), c = agent();
  await push(app, [announce(a, card("Alpha Translator", { translate: ["Language", "text"] }))]);
  clock.now += 1_000;
  await push(app, [
    announce(b, card("Beta Summariser", { summarise: ["text"], translate: ["language"] })),
  ]);
  clock.now += 1_000;
  await push(app, [announce(c, card("Gamma Vision", { ocr: ["image", "text"] }, "reads images"))]);

  const ids = async (q: string) => (await discover(app, q)).agents.map((x) => x.id);
  assert.deepEqual(await ids(""), [c.key.id, b.key.id, a.key.id]);
  assert.deepEqual(await ids("skill=translate"), [b.key.id, a.key.id]);
  assert.deepEqual(await ids("tag=text"), [c.key.id, b.key.id, a.key.id]);
  assert.deepEqual(await ids("tag=TEXT&tag=language"), [b.key.id, a.key.id], "tags: all, any case");
  assert.deepEqual(await ids("tag=text&tag=image"), [c.key.id]);
  assert.deepEqual(await ids("q=translator"), [a.key.id]);
  assert.deepEqual(await ids("q=READS+gamma"), [c.key.id], "words: all, any case");
  assert.deepEqual(await ids("q=reads+alpha"), []);
  assert.deepEqual(await ids("skill=translate&q=beta"), [b.key.id]);
  assert.deepEqual(await ids("skill=nothing"), []);
  const [first] = (await discover(app, "skill=ocr")).agents;
  assert.equal(first.card.name, "Gamma Vision");
  assert.equal(first.lastSeen, T0_MS + 2_000);
  assert.equal(first.region, "eu-1");
  assert.equal(first.stale, false);
});

Deno.test("GET /v1/agents pages with an opaque cursor through every match exactly once", async () => {
  const { app, clock, agent } = region();
  const agents = Array.from({ length: 23 }, () => agent());
  for (const [i, a] of agents.entries()) {
    clock.now += 10;
    await push(app, [announce(a, card(`Agent ${i}`, { work: i % 2 === 0 ? ["even"] : ["odd"] }))]);
  }
  const newestFirst = agents.map((a) => a.key.id).reverse();
  const page = await discover(app, "limit=5");
  assert.equal(page.agents.length, 5);
  assert.equal(typeof page.cursor, "string");
  assert.deepEqual((await discoverAll(app, "limit=5")).map((x) => x.id), newestFirst);
  assert.deepEqual((await discoverAll(app, "limit=100")).map((x) => x.id), newestFirst);
  const even = newestFirst.filter((_, i) => (22 - i) % 2 === 0);
  assert.deepEqual((await discoverAll(app, "tag=even&limit=3")).map((x) => x.id), even);
  const last = await discover(app, "limit=23");
  assert.equal(last.cursor, null, "a page that reaches the end says so");
});

Deno.test("re-announcing replaces the card everywhere in the index; a withdrawal removes it", async () => {
  const { app, clock, agent, store } = region();
  const a = agent(), b = agent();
  await push(app, [announce(a, card("Old Name", { translate: ["language"] }))]);
  await push(app, [announce(b, card("Other", { chat: ["talk"] }))]);
  clock.now += 5_000;
  await push(app, [announce(a, card("New Name", { summarise: ["text"] }))]);
  const ids = async (q: string) => (await discover(app, q)).agents.map((x) => x.id);
  assert.deepEqual(await ids("skill=translate"), []);
  assert.deepEqual(await ids("q=old"), []);
  assert.deepEqual(await ids("tag=language"), []);
  assert.deepEqual(await ids("skill=summarise&q=new"), [a.key.id]);
  assert.deepEqual(await ids(""), [a.key.id, b.key.id], "the re-announce is newest");
  await push(app, [withdraw(a)]);
  assert.deepEqual(await ids(""), [b.key.id]);
  assert.equal((await app.request(`/v1/agents/${a.key.id}`)).status, 404);
  // The registry agrees with the channel's fold.
  assert.deepEqual(Object.keys((await registryFold(store)).map), [b.key.id]);
});

Deno.test("an older card delivered after a newer one changes nothing (last writer by the agent's clock)", async () => {
  const { app, clock, agent } = region();
  const a = agent();
  const older = announce(a, card("Older"));
  clock.now += 1_000;
  const newer = announce(a, card("Newer"));
  await push(app, [newer]);
  await push(app, [older]);
  const [only] = (await discover(app)).agents;
  assert.equal(only.card.name, "Newer");
});

Deno.test("GET /v1/agents/{id} answers the card as A2A JSON with its signed envelope, verifiable offline", async () => {
  const { app, agent } = region();
  const a = agent();
  const value = card("Verifiable", { translate: ["language"] });
  await push(app, [announce(a, value)]);
  const response = await app.request(`/v1/agents/${a.key.id}`);
  assert.equal(response.status, 200);
  const json = await response.json();
  const { meshRegistry, ...asCard } = json;
  assert.deepEqual(asCard, value, "the card members are exactly the signed card");
  assert.equal(meshRegistry.id, a.key.id);
  assert.equal(meshRegistry.region, "eu-1");
  assert.equal(meshRegistry.stale, false);
  const parsed = parseEnvelope(meshRegistry.envelope, T0_MS);
  assert.ok(parsed.ok);
  assert.ok(await verifyEd25519(parsed.publicKey, parsed.signature, parsed.message));
  assert.equal(parsed.delta.author, a.key.id);
  assert.deepEqual(parsed.delta.ops[0], { op: "set", key: a.key.id, value });

  assert.equal((await app.request(`/v1/agents/${testAgent().key.id}`)).status, 404);
  const bad = await app.request("/v1/agents/not-a-key");
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get("content-type"), "application/problem+json");
});

Deno.test("a quarantined agent is left out of discovery and its card answers 404, like the view", async () => {
  const { app, agent, store } = region();
  const honest = agent(), cheat = agent();
  await push(app, [announce(honest, card("Honest")), announce(cheat, card("Cheat"))]);
  assert.equal((await discover(app)).agents.length, 2);
  // Two bodies at one seq in an ordinary channel: the store keeps both and quarantines the author.
  const one = cheat.sign("room", [{ op: "set", key: "k", value: 1 }]);
  const twin = new Agent(cheat.key, new HybridClock(() => T0_MS)).sign("room", [
    { op: "set", key: "k", value: 2 },
  ]);
  await push(app, [one]);
  await push(app, [twin]);
  assert.equal((await store.listEquivocations(0, 10)).entries.length, 1);
  assert.deepEqual((await discover(app)).agents.map((x) => x.id), [honest.key.id]);
  assert.equal((await app.request(`/v1/agents/${cheat.key.id}`)).status, 404);
  // The fold of `_registry` (no view over HTTP) leaves the cheat out alike.
  assert.deepEqual(Object.keys((await registryFold(store)).map), [honest.key.id]);
});

Deno.test("the registry has no view: GET /v1/channels/_registry is a 400 problem naming discovery; its deltas page", async () => {
  const { app, agent } = region();
  const one = agent();
  await push(app, [announce(one, card("One"))]);
  for (const wait of ["", "?wait=5"]) {
    const response = await app.request(`/v1/channels/${REGISTRY_CHANNEL}${wait}`);
    assert.equal(response.status, 400);
    assert.equal(response.headers.get("content-type"), "application/problem+json");
    assert.match((await response.json()).detail, /GET \/v1\/agents/);
  }
  const deltas = await (await app.request(`/v1/channels/${REGISTRY_CHANNEL}/deltas`)).json();
  assert.equal(deltas.deltas.length, 1);
});

Deno.test("lastSeen follows the agent's newest delta in any channel, throttled per author, and stale after the TTL", async () => {
  const { app, clock, agent, registry } = region(60_000);
  const a = agent();
  await push(app, [announce(a, card("Lively"))]);
  clock.now += 1_000;
  await push(app, [a.sign("room", [{ op: "inc", counter: "n", by: 1 }])]);
  // Within the write interval the newer ts waits in memory (this instance answers with it);
  // the job writes it to the store, where other instances read it.
  const stored = async () =>
    JSON.parse((await registry.store.readIndex([seenKey(a.key.id)]))[0] ?? "null")?.ts;
  let [seen] = (await discover(app)).agents;
  assert.equal(seen.lastSeen, T0_MS + 1_000);
  assert.equal(await stored(), T0_MS);
  await registry.tick();
  assert.equal(await stored(), T0_MS + 1_000);
  clock.now += SEEN_WRITE_INTERVAL_MS;
  await push(app, [a.sign("room", [{ op: "inc", counter: "n", by: 1 }])]);
  [seen] = (await discover(app)).agents;
  assert.equal(seen.lastSeen, clock.now, "after the interval a push is written in the background");
  await registry.liveness.flush(clock.now);
  assert.equal(await stored(), clock.now);
  clock.now += 60_001;
  [seen] = (await discover(app)).agents;
  assert.equal(seen.stale, true);
  assert.equal(seen.card.name, "Lively", "stale agents are reported, never deleted");
});

Deno.test("a rare combination costs bounded work: the answer holds what the scan budget found and a cursor", async () => {
  const { app, clock, agent } = region();
  const rare = agent();
  await push(app, [announce(rare, card("Rare", { work: ["common", "rare"] }))]);
  const filler = Array.from({ length: DISCOVER_SCAN_ENTRIES_MAX + 10 }, () => agent());
  for (let i = 0; i < filler.length; i += 256) {
    clock.now += 1;
    await push(
      app,
      filler.slice(i, i + 256).map((f) => announce(f, card("Filler", { work: ["common"] }))),
    );
  }
  const first = await discover(app, "tag=common&tag=rare");
  assert.deepEqual(first.agents, []);
  assert.notEqual(first.cursor, null);
  const second = await discover(app, `tag=common&tag=rare&cursor=${first.cursor}`);
  assert.deepEqual(second.agents.map((x) => x.id), [rare.key.id]);
  assert.equal(second.cursor, null);
});
