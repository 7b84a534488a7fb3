/**
 * Review of what an electorate costs an instance (src/proposals/electorate.ts): every read of
 * `GET /v1/proposals/{id}` — public, unsigned — builds or refreshes the proposal's electorate.
 *
 * - Activity weights: each proposal had its own `ActivityCounts`, which read the whole activity
 *   channel from its first arrival; a proposal evicted from the book's 256 followed ones lost
 *   them and read the channel again when next read. So N proposals over one big channel read it
 *   N times, and anyone cycling GETs over 257 proposals made every GET a full scan (and the list
 *   route's `state=decided` does up to 100 such tallies per request). Now one index per channel,
 *   shared by the proposals that weigh by it and kept when a proposal is evicted, reads it once.
 * - Registry electorates: the electorate was rebuilt from every version of every card whenever
 *   the registry grew at all — one new card anywhere (anyone may announce one) made the next GET
 *   of every registry proposal walk the whole registry history (~44 ms per GET at 100,000 cards,
 *   so a list page of 100 decided proposals took seconds). Now only the agents whose cards (or
 *   activity) changed since the last read are looked at again.
 * Tests count the deltas read per channel; the registry one compares the time of a read after a
 * new card with the time of a warm read (medians), with a wide margin.
 */
import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { deltaId } from "../../src/protocol/delta.ts";
import { proposalKey, PROPOSALS_CHANNEL } from "../../src/protocol/proposal.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import { FOLLOWED_PROPOSALS_MAX } from "../../src/proposals/book.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore, StoredDelta } from "../../src/store/region_store.ts";
import { card } from "../registry/_cards.ts";
import { T0_MS } from "../support/signing.ts";

const SIG = "A".repeat(86);
/** A 43-character agent id from a counter (nothing here verifies signatures). */
const agentId = (n: number) => `agent${String(n).padStart(37, "0")}A`;

function delta(author: string, seq: number, channel: string, ts: number, ops: unknown[], lc = 0) {
  const body = JSON.stringify({ v: 1, author, seq, channel, ts, lc, ops });
  return { id: deltaId(utf8Encode(body)), channel, author, seq, body, sig: SIG } as StoredDelta;
}

async function put(store: RegionStore, deltas: StoredDelta[]) {
  for (let i = 0; i < deltas.length; i += 1_000) await store.putDeltas(deltas.slice(i, i + 1_000));
}

function proposal(seq: number, value: Record<string, unknown>) {
  const author = agentId(0);
  return delta(author, seq, PROPOSALS_CHANNEL, T0_MS + seq, [{
    op: "set",
    key: proposalKey(author, seq),
    value: { title: `p${seq}`, options: ["yes", "no"], deadline: T0_MS + 3_600_000, ...value },
  }]);
}

/** A memory store that counts the deltas `listArrivals` returns, per channel. */
class CountingStore extends MemoryStore {
  readonly read = new Map<string, number>();
  override async listArrivals(channel: string, after: number, limit: number) {
    const page = await super.listArrivals(channel, after, limit);
    this.read.set(channel, (this.read.get(channel) ?? 0) + page.deltas.length);
    return page;
  }
}

const AUTHORS = 20;
const PER_AUTHOR = 100;

async function region() {
  const store = new CountingStore();
  const work = Array.from({ length: AUTHORS * PER_AUTHOR }, (_, i) => {
    const n = i % AUTHORS;
    const seq = Math.floor(i / AUTHORS) + 1;
    return delta(agentId(n + 1), seq, "work", T0_MS - 100_000 + i, [{
      op: "inc",
      counter: "c",
      by: 1,
    }]);
  });
  await put(store, work);
  const app = meshRegionApp({ region: "eu-1", store, now: () => T0_MS + 10_000 });
  // deno-lint-ignore no-explicit-any
  const get = async (id: string): Promise<any> => {
    const response = await app.request(`/v1/proposals/${id}?votes_limit=0`);
    assert.equal(response.status, 200);
    return await response.json();
  };
  return { store, app, get };
}

const voters = Array.from({ length: AUTHORS }, (_, n) => agentId(n + 1));

Deno.test("proposal review: proposals weighing by one channel read it once between them", async () => {
  const { store, get } = await region();
  const proposals = Array.from(
    { length: 5 },
    (_, k) => proposal(k + 1, { eligible: { agents: voters }, weights: { activity: "work" } }),
  );
  await put(store, proposals);
  for (const p of proposals) {
    const answer = await get(p.id);
    // 100 deltas each: 1 + ⌊log2 101⌋ = 7.
    assert.deepEqual(answer.tally.eligible, { agents: AUTHORS, weight: AUTHORS * 7 });
  }
  const read = store.read.get("work") ?? 0;
  assert.ok(
    read <= AUTHORS * PER_AUTHOR,
    `5 proposals read ${read} deltas of an activity channel that holds ${AUTHORS * PER_AUTHOR}`,
  );
});

Deno.test("proposal review: a proposal read again after eviction does not scan its activity channel again", async () => {
  const { store, get } = await region();
  const weighed = proposal(1, { eligible: { agents: voters }, weights: { activity: "work" } });
  const others = Array.from(
    { length: FOLLOWED_PROPOSALS_MAX },
    (_, k) => proposal(k + 2, { eligible: { agents: [voters[0]] } }),
  );
  await put(store, [weighed, ...others]);
  await get(weighed.id);
  for (const p of others) await get(p.id); // evicts `weighed` from the followed proposals
  const before = store.read.get("work") ?? 0;
  const answer = await get(weighed.id);
  assert.deepEqual(answer.tally.eligible, { agents: AUTHORS, weight: AUTHORS * 7 });
  const again = (store.read.get("work") ?? 0) - before;
  assert.equal(again, 0, `reading the evicted proposal again read ${again} activity deltas`);
});

Deno.test("proposal review: one new card does not make a registry proposal's read walk the registry", async () => {
  const cards = 50_000;
  const store = new MemoryStore();
  const reviewer = card("r", { review: ["code"] });
  const announce = (n: number, ts: number) =>
    delta(agentId(n), 1, REGISTRY_CHANNEL, ts, [{ op: "set", key: agentId(n), value: reviewer }]);
  await put(store, Array.from({ length: cards }, (_, i) => announce(i + 1, T0_MS - 1_000)));
  const p = proposal(1, { eligible: { skill: "review" } });
  await put(store, [p]);
  const app = meshRegionApp({ region: "eu-1", store, now: () => T0_MS + 10_000 });
  const timed = async () => {
    const started = performance.now();
    const response = await app.request(`/v1/proposals/${p.id}?votes_limit=0`);
    const answer = await response.json();
    return { ms: performance.now() - started, answer };
  };
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  assert.equal((await timed()).answer.tally.eligible.agents, cards); // cold: reads the registry
  const warm: number[] = [];
  for (let i = 0; i < 15; i++) warm.push((await timed()).ms);
  const changed: number[] = [];
  for (let i = 0; i < 15; i++) {
    // Half the new cards are back-dated before the proposal: they join its electorate.
    await put(store, [announce(cards + 10 + i, i % 2 === 0 ? T0_MS - 500 : T0_MS + 5_000)]);
    const { ms, answer } = await timed();
    changed.push(ms);
    assert.equal(answer.tally.eligible.agents, cards + Math.floor(i / 2) + 1);
  }
  const [w, c] = [median(warm), median(changed)];
  assert.ok(
    c < 4 * w + 2,
    `a read after one new card took ${c.toFixed(2)} ms (warm: ${w.toFixed(2)} ms) ` +
      `with ${cards} cards: it walked the registry`,
  );
});

Deno.test("proposal review (guard): an electorate kept up to date equals one built afresh, whatever arrives when", async () => {
  const { Electorates } = await import("../../src/proposals/electorate.ts");
  const { proposalOf } = await import("../../src/protocol/proposal.ts");
  const fc = (await import("fast-check")).default;
  const agents = Array.from({ length: 6 }, (_, n) => agentId(n + 1));
  const P_TS = T0_MS;
  const event = fc.oneof(
    fc.record({
      kind: fc.constant("card" as const),
      agent: fc.nat(5),
      seq: fc.integer({ min: 1, max: 4 }),
      dt: fc.integer({ min: -3, max: 3 }),
      lc: fc.nat(2),
      skill: fc.boolean(),
      del: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant("work" as const),
      agent: fc.nat(5),
      seq: fc.integer({ min: 1, max: 40 }),
      dt: fc.integer({ min: -3, max: 3 }),
    }),
    fc.record({ kind: fc.constant("read" as const) }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(event, { minLength: 10, maxLength: 80, size: "max" }),
      async (events) => {
        const store = new MemoryStore();
        const value = (eligible: unknown) => ({ eligible, weights: { activity: "work" } });
        const ps = [
          proposal(1, value({ skill: "review" })),
          proposal(2, value({ agents: agents.slice(0, 4) })),
          proposal(3, { eligible: { tag: "code" } }),
        ].map((d) => {
          // All three made at P_TS, so the events' times fall on both sides of it.
          const body = JSON.parse(d.body);
          body.ts = P_TS;
          const text = JSON.stringify(body);
          return { ...d, id: deltaId(utf8Encode(text)), body: text };
        });
        const proposals = ps.map((d) => proposalOf(d)!);
        assert.ok(proposals.every((p) => p !== null));
        const kept = new Electorates(store);
        /** The electorate as §24.4 says, from the store's deltas directly. */
        const oracle = async (i: number) => {
          const all = async (channel: string) =>
            (await store.listArrivals(channel, 0, 10_000)).deltas.map((r) => ({
              id: r.id,
              ...JSON.parse(r.body),
            }));
          const [cards, work] = [await all(REGISTRY_CHANNEL), await all("work")];
          const weights = new Map<string, number>();
          for (const agent of agents) {
            let member: boolean;
            if (i === 1) member = agents.slice(0, 4).includes(agent);
            else {
              const mine = cards.filter((c) => c.author === agent && c.ts < P_TS);
              mine.sort((x, y) =>
                x.ts - y.ts || x.lc - y.lc || x.seq - y.seq || (x.id < y.id ? -1 : 1)
              );
              const op = mine.at(-1)?.ops[0];
              member = op?.op === "set" &&
                (op.value.skills as { id: string; tags: string[] }[]).some((k) =>
                  i === 0 ? k.id === "review" : k.tags.some((t) => t.toLowerCase() === "code")
                );
            }
            if (!member) continue;
            const n = work.filter((w) => w.author === agent && w.ts < P_TS).length;
            weights.set(agent, i === 2 ? 1 : 1 + Math.floor(Math.log2(1 + n)));
          }
          return weights;
        };
        const compare = async () => {
          const fresh = new Electorates(store);
          for (const [i, p] of proposals.entries()) {
            const [a, b, want] = [await kept.of(p), await fresh.of(p), await oracle(i)];
            assert.equal(a.total, b.total);
            assert.equal(a.size, want.size);
            assert.equal(a.total, [...want.values()].reduce((x, y) => x + y, 0));
            for (const agent of agents) {
              assert.equal(a.weightOf(agent), want.get(agent) ?? 0);
              assert.equal(b.weightOf(agent), want.get(agent) ?? 0);
            }
          }
        };
        for (const e of events) {
          if (e.kind === "read") {
            await compare();
            continue;
          }
          const author = agents[e.agent];
          const ts = P_TS + e.dt;
          const d = e.kind === "work"
            ? delta(author, e.seq, "work", ts, [{ op: "inc", counter: "c", by: 1 }])
            : delta(author, e.seq, REGISTRY_CHANNEL, ts, [
              e.del ? { op: "del", key: author } : {
                op: "set",
                key: author,
                value: card("a", e.skill ? { review: ["Code"] } : { other: ["x"] }),
              },
            ], e.lc);
          await store.putDeltas([d]);
        }
        await compare();
      },
    ),
    { numRuns: 200, seed: 11 },
  );
});
