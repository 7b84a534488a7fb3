/**
 * Review of the card limits against the store index limits (6fc3127, 6d50d4e, ab641a0, 90fd0f1):
 * cards crafted to be as large as possible where it counts — skill ids of 3-byte characters,
 * tags that grow when lowercased (U+0130 → "i̇"), tags that collide after lowercasing, words of
 * 32 astral letters — announced and then replaced by a card whose every term differs, so the
 * replacement is the largest index write one card can make (1 expect, 63 deletes, 64 sets), on
 * every store, Deno KV under a store prefix as on Deno Deploy. If any write broke a store limit,
 * the indexer would throw on that delta for ever and wedge the shared cursor.
 */
import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { type AgentCard, CARD_SKILLS_MAX, CARD_TAGS_MAX } from "../../src/protocol/agent_card.ts";
import { CARD_WORDS_MAX, cardKey, cardTerms } from "../../src/registry/index_layout.ts";
import { Registry } from "../../src/registry/registry.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { IndexWrite, RegionStore } from "../../src/store/region_store.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";
import { announce, discover, push } from "../registry/_cards.ts";

/** A card at the index limits; `v` (0 or 1) makes every term differ from the other variant. */
function widest(v: number): AgentCard {
  const cjk = (i: number) => String.fromCodePoint(0x4e00 + v * 500 + i);
  // 24 distinct tags, 64 UTF-16 units each; lowercased they grow to 126 units, which the tag
  // term cuts back to 64 (tagTerm): the distinct character comes first so they stay distinct.
  const tags = Array.from(
    { length: CARD_TAGS_MAX },
    (_, i) => cjk(i) + "Q" + "\u0130".repeat(62),
  );
  // 22 words of 32 astral letters (𝐀… are letters and lowercase to themselves).
  const word = (i: number) => {
    const n = v * CARD_WORDS_MAX + i;
    return "\u{1D400}".repeat(30) + String.fromCodePoint(0x1d41a + Math.floor(n / 26)) +
      String.fromCodePoint(0x1d41a + (n % 26));
  };
  const words = Array.from({ length: CARD_WORDS_MAX }, (_, i) => word(i));
  return {
    name: v === 0 ? "N" : "M",
    description: words.join(" "),
    version: "1",
    supportedInterfaces: [{ url: "https://a.example/", protocolBinding: "JSONRPC" }],
    defaultInputModes: [],
    defaultOutputModes: [],
    skills: Array.from({ length: CARD_SKILLS_MAX }, (_, i) => ({
      id: "\u20ac".repeat(63) + cjk(100 + i),
      name: "s",
      description: "d",
      // Each tag also appears upper- and lowercased: they are one tag.
      tags: [tags[i], ...(i < 8 ? [tags[16 + i], tags[16 + i].replace("Q", "q")] : [])],
    })),
  };
}

async function attack(store: RegionStore) {
  const writes: IndexWrite[] = [];
  const original = store.writeIndex.bind(store);
  store.writeIndex = (w: IndexWrite) => {
    writes.push(w);
    return original(w);
  };
  const clock = { now: T0_MS };
  const registry = new Registry({ region: "eu-1", store, now: () => clock.now });
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now, registry });
  const agent = testAgent(() => clock.now);
  const [a, b] = [widest(0), widest(1)];
  const terms = [cardTerms(a), cardTerms(b)];
  assert.equal(terms[0].tags.length, CARD_TAGS_MAX);
  assert.equal(terms[0].words.length, CARD_WORDS_MAX);
  assert.equal(new Set([...terms[0].words, ...terms[1].words]).size, 2 * CARD_WORDS_MAX);
  const first = await push(app, [announce(agent, a)]);
  assert.equal(first[0].status, "accepted", JSON.stringify(first[0]));
  clock.now += 1_000;
  const second = await push(app, [announce(agent, b)]);
  assert.equal(second[0].status, "accepted", JSON.stringify(second[0]));
  const largest = writes.reduce(
    (m, w) => Math.max(m, (w.expect?.length ?? 0) + (w.set?.length ?? 0) + (w.delete?.length ?? 0)),
    0,
  );
  assert.equal(largest, 128, "the replacement is the largest write the layout allows");
  const [record] = await store.readIndex([cardKey(agent.key.id)]);
  assert.ok(record !== null && JSON.parse(record).ts === clock.now, "the second card is indexed");
  // Found by a grown tag in any case, by a 3-byte skill id and by an astral word.
  const tag = b.skills[1].tags[1];
  for (const query of [tag, b.skills[1].tags[2]]) {
    const found = await discover(app, new URLSearchParams({ tag: query }).toString());
    assert.deepEqual(found.agents.map((x) => x.id), [agent.key.id], `tag ${query.length}`);
  }
  const old = await discover(app, new URLSearchParams({ tag: a.skills[0].tags[0] }).toString());
  assert.deepEqual(old.agents, [], "no stale entry of the old card's tag");
  const skill = await discover(app, new URLSearchParams({ skill: b.skills[3].id }).toString());
  assert.equal(skill.agents.length, 1);
  const q = await discover(app, new URLSearchParams({ q: terms[1].words[5] }).toString());
  assert.equal(q.agents.length, 1);
}

Deno.test("registry review (guard): the widest unicode cards index on MemoryStore", async () => {
  await attack(new MemoryStore());
});

Deno.test("registry review (guard): the widest unicode cards index on Deno KV under a deploy-like prefix", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await attack(new DenoKvStore(kv, { prefix: ["mesh", "ap-southeast-2-sydney-edge"] }));
  } finally {
    kv.close();
  }
});

upstashTest("registry review (guard): the widest unicode cards index on Upstash", async (env) => {
  const store = new UpstashStore({ url: env.rest.url, token: env.rest.token, prefix: "wide:" });
  try {
    await attack(store);
  } finally {
    await store.close();
  }
});
