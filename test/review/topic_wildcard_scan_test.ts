/**
 * Review of wildcard subscriptions (src/topics/replay.ts `matchingChannels`).
 *
 * Attack: a subscription's candidate topics are listed from the channel directory by the
 * subject's fixed prefix — `_topic:` alone when the subject starts with a wildcard — and the
 * listing goes on, 1,000 names a page, until REPLAY_TOPICS_MAX topics *match* or the directory
 * ends. A subject that matches few or no topics (`*.nomatch`, `*.*.*.x`) therefore makes one
 * request read the name (and arrival count) of every topic the region holds. Subscribing costs
 * nothing (no address budget is drawn, no signature needed), and topics cost one message each
 * (256 fresh authors in one push), so anyone can grow the directory and then make every
 * long-poll `wait=0` or SSE connect cost O(all topics) store reads.
 *
 * Expected: the work one subscription request does is bounded independently of how many topics
 * the region holds (e.g. at most a fixed number of directory names examined; what lies beyond is
 * delivered live only, as REPLAY_TOPICS_MAX already is), or subscriptions draw from a budget.
 * Here: with 5,000 topics, `GET /v1/topics/*.nomatch/messages` reads at most
 * 2 × REPLAY_TOPICS_MAX directory names.
 */
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { ingest } from "../../src/region/ingest.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { TopicHub } from "../../src/topics/hub.ts";
import { REPLAY_TOPICS_MAX } from "../../src/topics/replay.ts";
import { CHANNELS_INDEX_ROOT } from "../../src/views/channel_directory.ts";
import { T0_MS } from "../support/signing.ts";
import { topicMessage } from "../topics/_topics.ts";

const TOPICS = 5_000;
const NOW_MS = T0_MS + 1_000;

/** The store, counting the directory names its `listIndex` hands out. */
function counting(store: RegionStore) {
  const seen = { names: 0 };
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      if (name !== "listIndex") return value.bind(target);
      return async (...args: Parameters<RegionStore["listIndex"]>) => {
        const page = await target.listIndex(...args);
        if (args[0][0] === CHANNELS_INDEX_ROOT) seen.names += page.entries.length;
        return page;
      };
    },
  });
  return { store: proxy as RegionStore, seen };
}

Deno.test({
  // Fails today: one subscription to `*.nomatch` reads all 5,000 topic names.
  ignore: false,
  name: "a wildcard subscription that matches nothing reads a bounded part of the directory",
  fn: async () => {
    const memory = new MemoryStore();
    // 5,000 one-token topics, as 20 authors' messages (what 20 pushes of 250 could store).
    const authors = Array.from(
      { length: 20 },
      () => new Agent(AgentKey.generate(), new HybridClock(() => NOW_MS)),
    );
    const envelopes = [];
    for (let i = 0; i < TOPICS; i++) {
      envelopes.push(await topicMessage(authors[i % authors.length], `t${i}`, i));
    }
    for (let i = 0; i < envelopes.length; i += 256) {
      const { accepted } = await ingest(envelopes.slice(i, i + 256), memory, verifyEd25519, NOW_MS);
      assert.equal(accepted.length, Math.min(256, envelopes.length - i));
    }
    const { store, seen } = counting(memory);
    const topics = new TopicHub({ store, pollMs: 10 });
    const registry = new Registry({ region: "eu-1", store, now: () => NOW_MS });
    const app = meshRegionApp({ region: "eu-1", store, now: () => NOW_MS, topics, registry });
    try {
      const response = await app.request("/v1/topics/*.nomatch/messages?wait=0");
      assert.equal(response.status, 200);
      assert.deepEqual((await response.json()).messages, []);
      assert.ok(
        seen.names <= 2 * REPLAY_TOPICS_MAX,
        `one unsigned, unbudgeted request read ${seen.names} directory names`,
      );
    } finally {
      topics.close();
      await registry.liveness.flush(NOW_MS).catch(() => 0);
    }
  },
});
