/**
 * Review of liveness (6d50d4e, docs/protocol.md §20.4): "Regions with equal delta sets report
 * equal lastSeen once their jobs have run". Liveness is kept in per-instance memory until it is
 * written (throttled to once per SEEN_WRITE_INTERVAL_MS); it is never rebuilt from the stored
 * deltas. An instance that ends (a serverless instance recycled, a crash, a deploy) between
 * storing a delta and writing its liveness loses it for good — unlike the discovery index,
 * which follows a durable cursor. Also guards: lastSeen never passes the clock-skew rule and
 * nobody can make another agent look stale.
 */
import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { CLOCK_SKEW_FUTURE_MS_MAX } from "../../src/protocol/limits.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { signBody, T0_MS, testAgent } from "../support/signing.ts";
import { announce, card, discover, push } from "../registry/_cards.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";

const DAY_MS = 86_400_000;

/** One instance of a standalone region over `store` (a new one = the old instance is gone). */
function instance(store: MemoryStore, clock: { now: number }) {
  const registry = new Registry({ region: "eu-1", store, now: () => clock.now });
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now, registry });
  return { registry, app };
}

/** A signed delta of `key` in channel `channel` with an explicit ts. */
function deltaAt(key: AgentKey, channel: string, seq: number, ts: number) {
  return signBody(
    key,
    JSON.stringify({
      v: 1,
      author: key.id,
      seq,
      channel,
      ts,
      lc: 0,
      ops: [{ op: "set", key: "k", value: seq }],
    }),
  );
}

Deno.test({
  name: "registry review: two regions with equal delta sets report equal lastSeen after their jobs",
  // Was a defect (liveness is not durable): region B's instance ends after storing the agent's latest
  // delta but before the throttled liveness write; its successor's job has nothing to write, so
  // B reports lastSeen a day old and stale: true for ever while A, with the same deltas, reports
  // the agent fresh. Suggested fix: derive liveness from the store (the seen record written
  // in the same atomic put, or a job that follows all arrivals from a durable cursor as the
  // indexer does), not from instance memory.
  fn: async () => {
    const clock = { now: T0_MS };
    const storeA = new MemoryStore(), storeB = new MemoryStore();
    const a = instance(storeA, clock);
    let b = instance(storeB, clock);
    const key = AgentKey.generate();
    // An agent back from a day offline uploads its backlog, then its fresh state, then its card.
    const old = deltaAt(key, "work", 1, T0_MS - DAY_MS);
    const fresh = deltaAt(key, "work", 2, T0_MS);
    for (const app of [a.app, b.app]) {
      assert.equal((await push(app, [old]))[0].status, "accepted");
    }
    clock.now += 1_000;
    for (const app of [a.app, b.app]) {
      assert.equal((await push(app, [fresh]))[0].status, "accepted");
    }
    const announcement = signBody(
      key,
      JSON.stringify({
        v: 1,
        author: key.id,
        seq: 1,
        channel: "_registry",
        ts: T0_MS - DAY_MS,
        lc: 1,
        ops: [{ op: "set", key: key.id, value: card("Back Online") }],
      }),
    );
    for (const app of [a.app, b.app]) {
      assert.equal((await push(app, [announcement]))[0].status, "accepted");
    }
    // B's instance goes away (recycled); a new one takes over the same store.
    b = instance(storeB, clock);
    clock.now += 20_000;
    await a.registry.tick();
    await b.registry.tick();
    const [inA] = (await discover(a.app)).agents;
    const [inB] = (await discover(b.app)).agents;
    assert.deepEqual(
      { lastSeen: inB.lastSeen, stale: inB.stale },
      { lastSeen: inA.lastSeen, stale: inA.stale },
    );
  },
});

Deno.test("registry review (guard): lastSeen never passes the clock-skew rule; nobody makes another agent stale", async () => {
  const clock = { now: T0_MS };
  const store = new MemoryStore();
  const { app, registry } = instance(store, clock);
  const agent = testAgent(() => clock.now);
  await push(app, [announce(agent, card("Honest"))]);
  // A liar pushes its own deltas far ahead: refused; just inside the skew: accepted.
  const liar = AgentKey.generate();
  const ahead = await push(app, [deltaAt(liar, "x", 1, T0_MS + CLOCK_SKEW_FUTURE_MS_MAX + 1)]);
  assert.equal(ahead[0].reason, "future_timestamp");
  const edge = await push(app, [deltaAt(liar, "x", 1, T0_MS + CLOCK_SKEW_FUTURE_MS_MAX)]);
  assert.equal(edge[0].status, "accepted");
  const card2 = signBody(
    liar,
    JSON.stringify({
      v: 1,
      author: liar.id,
      seq: 1,
      channel: "_registry",
      ts: T0_MS + CLOCK_SKEW_FUTURE_MS_MAX,
      lc: 0,
      ops: [{ op: "set", key: liar.id, value: card("Pinned") }],
    }),
  );
  assert.equal((await push(app, [card2]))[0].status, "accepted");
  clock.now += 20_000;
  await registry.tick();
  const agents = (await discover(app)).agents;
  const liarEntry = agents.find((x) => x.id === liar.id)!;
  assert.ok(liarEntry.lastSeen <= clock.now + CLOCK_SKEW_FUTURE_MS_MAX);
  assert.equal(agents[0].id, liar.id, "the skew lets it lead newest-first, for a minute only");
  // A minute later an honest re-announce outranks it.
  clock.now = T0_MS + CLOCK_SKEW_FUTURE_MS_MAX + 1;
  await push(app, [announce(agent, card("Honest again"))]);
  assert.equal((await discover(app)).agents[0].id, agent.key.id);
  // Old deltas (or a replay by a relaying region) never lower anyone's lastSeen.
  const before = (await discover(app)).agents.find((x) => x.id === agent.key.id)!.lastSeen;
  await push(app, [deltaAt(liar, "x", 2, 0)]);
  clock.now += 20_000;
  await registry.tick();
  const after = (await discover(app)).agents.find((x) => x.id === agent.key.id)!.lastSeen;
  assert.equal(after, before);
});
