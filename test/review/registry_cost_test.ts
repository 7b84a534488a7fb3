/**
 * Review of what registry deltas cost the store (6d50d4e): one push of 256 `_registry` deltas
 * of distinct agents, each card at the index limits, then 256 re-announces whose every term
 * differs. Without contention each delta costs one record read and one conditional index write
 * of at most 128 keys (1 expect, up to 63 deletes, 64 sets): bounded, but ~32,000 index key
 * mutations for one HTTP request. The numbers are printed for docs/performance.md.
 */
import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { type AgentCard, CARD_SKILLS_MAX } from "../../src/protocol/agent_card.ts";
import { PUSH_DELTAS_MAX } from "../../src/protocol/limits.ts";
import { CARD_WORDS_MAX } from "../../src/registry/index_layout.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { IndexKey, IndexWrite } from "../../src/store/region_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { announce, push } from "../registry/_cards.ts";

class CountingStore extends MemoryStore {
  reads = 0;
  writes = 0;
  keys = 0;
  override readIndex(keys: readonly IndexKey[]) {
    this.reads++;
    return super.readIndex(keys);
  }
  override writeIndex(write: IndexWrite) {
    this.writes++;
    this.keys += (write.expect?.length ?? 0) + (write.set?.length ?? 0) +
      (write.delete?.length ?? 0);
    return super.writeIndex(write);
  }
  reset() {
    this.reads = this.writes = this.keys = 0;
  }
}

function wide(prefix: string): AgentCard {
  return {
    name: `${prefix}name`,
    description: Array.from({ length: CARD_WORDS_MAX }, (_, i) => `${prefix}w${i}`).join(" "),
    version: "1",
    supportedInterfaces: [{ url: "https://a.example/", protocolBinding: "JSONRPC" }],
    defaultInputModes: [],
    defaultOutputModes: [],
    skills: Array.from({ length: CARD_SKILLS_MAX }, (_, i) => ({
      id: `${prefix}s${i}`,
      name: "s",
      description: "d",
      tags: [`${prefix}t${i}`, ...(i < 8 ? [`${prefix}u${i}`] : [])],
    })),
  };
}

Deno.test("registry review (measure): index work of one push of 256 widest cards, then 256 replacements", async () => {
  const store = new CountingStore();
  const clock = { now: T0_MS };
  const registry = new Registry({ region: "eu-1", store, now: () => clock.now });
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now, registry });
  const agents = Array.from({ length: PUSH_DELTAS_MAX }, () => testAgent(() => clock.now));
  for (const [label, prefix] of [["announce", "a"], ["replace", "b"]]) {
    store.reset();
    const results = await push(app, agents.map((a) => announce(a, wide(prefix))));
    assert.ok(results.every((r) => r.status === "accepted"));
    console.log(
      `${label}: ${PUSH_DELTAS_MAX} deltas → ${store.writes} index writes, ${store.keys} keys, ` +
        `${store.reads} index reads (liveness included)`,
    );
    assert.ok(store.keys <= PUSH_DELTAS_MAX * 128 + PUSH_DELTAS_MAX * 2);
    clock.now += 20_000;
  }
  // A discovery request with nothing to index costs a handful of calls.
  store.reset();
  await app.request("/v1/agents?tag=bt3&limit=100");
  console.log(`discovery: ${store.reads} index reads, ${store.writes} writes`);
  assert.equal(store.writes, 0);
});
