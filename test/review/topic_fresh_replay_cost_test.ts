/**
 * Review of where a topic replay starts (src/topics/replay.ts, src/region/retained_scan.ts).
 *
 * Attack (and plain load): a fresh subscription starts at T0 = now − 5 s, but its replay reads
 * the topic from the low-water mark, which only passes *expired* messages: it reads every
 * retained message of the last 24 h, one by one, to find that their `ts` is before T0. A busy
 * topic (many publishers, TTL 24 h) makes every fresh `GET /v1/topics/{t}/messages?wait=0` and
 * every SSE connect read the whole retention window from the store — unsigned, unbudgeted, from
 * anyone, as often as they like (the per-address cap bounds concurrency, not rate).
 *
 * Expected: a subscription that starts at T0 does not read the arrivals that cannot hold a
 * message with `ts ≥ T0` (a message with `ts ≥ T0` arrived at region time ≥ T0 − the future
 * skew, so a region-local index of arrival time → arrival number bounds the start), or the
 * request draws from the address budget in proportion to what it reads. Here: with 3,000
 * retained messages an hour old, a fresh long-poll reads at most one scan page of arrivals.
 */
import { countingArrivals } from "../support/counting_store.ts";
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { ingest } from "../../src/region/ingest.ts";
import { RETAINED_SCAN_PAGE } from "../../src/region/retained_scan.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { TopicHub } from "../../src/topics/hub.ts";
import { T0_MS } from "../support/signing.ts";
import { topicMessage } from "../topics/_topics.ts";

const RETAINED = 3_000;
const HOUR_MS = 3_600_000;
const NOW_MS = T0_MS + HOUR_MS;

Deno.test({
  // Fails today: a fresh long-poll reads all 3,000 retained arrivals of the topic.
  ignore: false,
  name: "a fresh subscription does not read the topic's whole retention window",
  fn: async () => {
    const memory = new MemoryStore();
    const authors = Array.from(
      { length: 10 },
      () => new Agent(AgentKey.generate(), new HybridClock(() => T0_MS)),
    );
    const envelopes = [];
    for (let i = 0; i < RETAINED; i++) {
      envelopes.push(await topicMessage(authors[i % authors.length], "busy", i, 24 * HOUR_MS));
    }
    for (let i = 0; i < envelopes.length; i += 256) {
      const { accepted } = await ingest(envelopes.slice(i, i + 256), memory, verifyEd25519, T0_MS);
      assert.equal(accepted.length, Math.min(256, envelopes.length - i));
    }
    const { store, read: arrivalsRead } = countingArrivals(memory);
    const topics = new TopicHub({ store, pollMs: 10 });
    const registry = new Registry({ region: "eu-1", store, now: () => NOW_MS });
    const app = meshRegionApp({ region: "eu-1", store, now: () => NOW_MS, topics, registry });
    try {
      const response = await app.request("/v1/topics/busy/messages?wait=0");
      assert.equal(response.status, 200);
      assert.deepEqual((await response.json()).messages, [], "nothing is newer than T0");
      assert.ok(
        arrivalsRead() <= RETAINED_SCAN_PAGE,
        `one unsigned, unbudgeted request read ${arrivalsRead()} stored messages to deliver none`,
      );
    } finally {
      topics.close();
      await registry.liveness.flush(NOW_MS).catch(() => 0);
    }
  },
});
