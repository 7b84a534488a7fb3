/**
 * Review of the registry indexer (6d50d4e): a page of `_registry` arrivals is indexed with one
 * `indexDelta` per delta, all at once (`Promise.all`). Deltas of ONE author in one page race
 * on one record: each round, every one of them reads the record, and only the first write
 * wins; the rest re-read. With ascending stamps, the k-th delta needs k+1 rounds, but
 * `INDEX_WRITE_TRIES_MAX` is 16: from the 17th re-announce of one author in a page on, the
 * indexer throws "its record kept changing". Deterministic on MemoryStore (its calls complete in
 * call order, so every round is won by the oldest contender); on Deno KV and Upstash the
 * interleaving usually lets a newer delta win early (the guard and the measurement below), so
 * there it is a matter of scheduling, not of a guarantee. Every failure surfaced as a 500.
 * Fixed: the indexer indexes only each author's latest delta of a page, and a request answers
 * from the index as it stands when indexing fails; the tests below guard it.
 */
import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { Registry } from "../../src/registry/registry.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";
import type { IndexKey, IndexWrite } from "../../src/store/region_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { announce, card, push } from "../registry/_cards.ts";

/** A MemoryStore that counts index reads and writes. */
class CountingStore extends MemoryStore {
  reads = 0;
  writes = 0;
  override readIndex(keys: readonly IndexKey[]) {
    this.reads++;
    return super.readIndex(keys);
  }
  override writeIndex(write: IndexWrite) {
    this.writes++;
    return super.writeIndex(write);
  }
}

function region() {
  const store = new CountingStore();
  const clock = { now: T0_MS };
  const registry = new Registry({ region: "eu-1", store, now: () => clock.now });
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now, registry });
  return { store, clock, registry, app };
}

/** One agent's `n` re-announces, each a newer card, signed in one go (one push). */
function reannounces(n: number, wall: () => number) {
  const agent = testAgent(wall);
  const deltas = Array.from({ length: n }, (_, i) => announce(agent, card(`Agent v${i}`)));
  return { agent, deltas };
}

Deno.test({
  name:
    "registry review: one push of 40 re-announces by one agent is indexed before the push answers",
  // Was a defect (indexer contention): the page's deltas of one author race for one record; the
  // 17th and later exhaust INDEX_WRITE_TRIES_MAX, the push's indexing throws (logged), and the
  // agent's newest card is not what discovery answers.
  fn: async () => {
    const { app, clock } = region();
    const { agent, deltas } = reannounces(40, () => clock.now);
    const results = await push(app, deltas);
    assert.ok(results.every((r) => r.status === "accepted"), JSON.stringify(results[0]));
    const response = await app.request(`/v1/agents/${agent.key.id}`);
    assert.equal(response.status, 200);
    assert.equal((await response.json()).name, "Agent v39");
  },
});

Deno.test({
  name:
    "registry review: GET /v1/agents never answers 500 while a page holds many deltas of one author",
  // Was a defect (indexer contention → 500): catchUpForRequest rethrows the plain Error "Cannot index
  // _registry delta ...: its record kept changing", which the app maps to 500 internal-error.
  // Every discovery request answers 500 until repeated catch-ups have stepped the record 16
  // deltas at a time past the page.
  fn: async () => {
    const { app, clock } = region();
    const { deltas } = reannounces(100, () => clock.now);
    await push(app, deltas);
    const response = await app.request("/v1/agents");
    assert.notEqual(response.status, 500, await response.text());
  },
});

Deno.test({
  name:
    "registry review (guard): on Deno KV, 40 re-announces of one agent in one push are indexed at once",
  // Deno KV's interleaving of the racing reads and commits lets the newest win early here, so
  // the bound of 16 tries holds in practice; nothing in the indexer guarantees it.
  fn: async () => {
    const kv = await Deno.openKv(":memory:");
    try {
      const store = new DenoKvStore(kv);
      const registry = new Registry({ region: "eu-1", store, now: () => T0_MS });
      const app = meshRegionApp({ region: "eu-1", store, now: () => T0_MS, registry });
      const { agent, deltas } = reannounces(40, () => T0_MS);
      await push(app, deltas);
      const response = await app.request(`/v1/agents/${agent.key.id}`);
      const text = await response.text();
      assert.equal(response.status, 200, text);
      assert.equal(JSON.parse(text).name, "Agent v39");
    } finally {
      kv.close();
    }
  },
});

upstashTest(
  "registry review (demonstration): on Upstash, one push of 100 re-announces of one agent",
  async (env) => {
    const store = new UpstashStore({
      url: env.rest.url,
      token: env.rest.token,
      prefix: "contend:",
    });
    const errors: string[] = [];
    const quiet = console.error;
    console.error = (...args: unknown[]) => errors.push(String(args[1] ?? args[0]));
    try {
      let writes = 0;
      const write = store.writeIndex.bind(store);
      store.writeIndex = (w: IndexWrite) => {
        writes++;
        return write(w);
      };
      const registry = new Registry({ region: "eu-1", store, now: () => T0_MS });
      const app = meshRegionApp({ region: "eu-1", store, now: () => T0_MS, registry });
      const { agent, deltas } = reannounces(100, () => T0_MS);
      await push(app, deltas);
      const response = await app.request(`/v1/agents/${agent.key.id}`);
      const text = await response.text();
      console.log(
        `Upstash: ${writes} index writes for 100 deltas; push-time indexing errors: ${errors.length}` +
          `; then GET /v1/agents/{id} answered ${response.status} ${
            response.status === 200 ? JSON.parse(text).name : ""
          }`,
      );
    } finally {
      console.error = quiet;
      await store.close();
    }
  },
);
