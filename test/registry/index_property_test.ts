/**
 * The discovery index equals a from-scratch fold of `_registry`: for random announce, re-announce
 * and withdraw sequences (clocks that go back, ties, equivocations) stored in random order and
 * batches, indexed by two instances at once with random page bounds and replays, every author's
 * record holds the LWW winner of its deltas — the same winner the channel's fold (the view's
 * `map`) picks — and the listing entries are exactly those the winners make.
 * Replay a seed with `MESH_SIM_SEED=<seed> deno test -A test/registry/index_property_test.ts`.
 */
import assert from "node:assert/strict";
import { ChannelState } from "../../src/crdt/channel_state.ts";
import { compareStamps } from "../../src/crdt/stamp.ts";
import {
  type AgentCard,
  CARD_SKILLS_MAX,
  CARD_TAGS_MAX,
  REGISTRY_CHANNEL,
} from "../../src/protocol/agent_card.ts";
import type { DeltaBody } from "../../src/protocol/delta.ts";
import {
  CARD_ENTRIES_MAX,
  CARD_WORDS_MAX,
  cardKey,
  cardTerms,
  entryKeys,
  parseCardRecord,
} from "../../src/registry/index_layout.ts";
import { RegistryIndexer } from "../../src/registry/indexer.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore, StoredDelta } from "../../src/store/region_store.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { fakeAuthor } from "../support/deltas.ts";
import { Rng, seedsToRun } from "../support/seeded_rng.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";
import { card, cardRecord } from "./_cards.ts";

const SEEDS = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89];
const T = 1_767_225_600_000;

const CARDS: AgentCard[] = [
  card("Alpha Translator", { translate: ["language", "text"] }),
  card("Beta Summariser", { summarise: ["text"], translate: ["Language"] }),
  card("Gamma Vision", { ocr: ["image"] }, "reads images and text"),
  card("Delta", {}, "no skills at all"),
  // Every index limit at once: the most skills, distinct tags and indexed words.
  card(
    "Wide",
    Object.fromEntries(
      Array.from({ length: CARD_SKILLS_MAX }, (_, i) => [`s${i}`, [`t${i}`, `u${i % 8}`]]),
    ),
    Array.from({ length: CARD_WORDS_MAX + 10 }, (_, i) => `word${i}`).join(" "),
  ),
  card(
    "Wide Again",
    Object.fromEntries(
      Array.from({ length: CARD_SKILLS_MAX }, (_, i) => [`x${i}`, [`v${i}`, `w${i % 8}`]]),
    ),
    Array.from({ length: CARD_WORDS_MAX + 10 }, (_, i) => `term${i}`).join(" "),
  ),
];

/** The signed-looking `_registry` deltas of one seeded history. */
function history(rng: Rng): StoredDelta[] {
  const out: StoredDelta[] = [];
  const authors = Array.from({ length: rng.between(2, 7) }, (_, i) => fakeAuthor(100 + i));
  for (const author of authors) {
    let seq = 0;
    for (let k = rng.between(1, 8); k > 0; k--) {
      seq++;
      const ts = T + rng.int(5) * 1_000; // clocks go back and tie
      const value = rng.chance(0.25) ? null : rng.pick(CARDS);
      out.push(cardRecord(author, seq, ts, rng.int(3), value));
      if (rng.chance(0.1)) { // an equivocation: another body at the same seq
        out.push(cardRecord(author, seq, ts + 1, 0, rng.pick(CARDS)));
      }
    }
  }
  return out;
}

async function runSeed(seed: number, store: RegionStore): Promise<void> {
  const rng = new Rng(seed);
  const deltas = rng.shuffle(history(rng));
  const one = new RegistryIndexer(store), two = new RegistryIndexer(store);
  const stored: StoredDelta[] = [];
  for (let i = 0; i < deltas.length;) {
    const batch = deltas.slice(i, i += rng.between(1, 6));
    await store.putDeltas(batch, "agent");
    stored.push(...batch);
    if (rng.chance(0.5)) {
      await Promise.all([one.catchUp(rng.between(1, 2)), two.catchUp(rng.between(1, 2))]);
    }
    if (rng.chance(0.3) && stored.length > 0) await one.indexDelta(rng.pick(stored)); // replay
  }
  while (!(await one.catchUp()).done);
  await assertIndexIsTheFold(store, stored, `seed ${seed}`);
}

/** The index equals what the fold of `deltas` says, author by author and entry by entry. */
async function assertIndexIsTheFold(store: RegionStore, deltas: StoredDelta[], label: string) {
  const fold = new ChannelState(REGISTRY_CHANNEL);
  const byAuthor = new Map<string, DeltaBody & { id: string }[]>();
  for (const d of deltas) {
    const body = JSON.parse(d.body) as DeltaBody;
    fold.apply({ ...body, id: d.id });
    const list = byAuthor.get(body.author) ?? [];
    list.push({ ...body, id: d.id } as never);
    byAuthor.set(body.author, list as never);
  }
  const map = fold.view().map;
  const expectedEntries = new Set<string>();
  for (const [author, list] of byAuthor) {
    const stampOf = (b: DeltaBody & { id: string }) => ({ ...b, op: 0 });
    const winner = [...(list as unknown as (DeltaBody & { id: string })[])]
      .sort((a, b) => compareStamps(stampOf(a), stampOf(b))).at(-1)!;
    const op = winner.ops[0];
    const [text] = await store.readIndex([cardKey(author)]);
    const record = parseCardRecord(text);
    assert.ok(record !== null, `${label}: ${author} has no record`);
    assert.equal(record.id, winner.id, `${label}: ${author}'s record is not the LWW winner`);
    assert.equal(record.deleted, op.op === "del", label);
    if (op.op === "set") {
      assert.deepEqual(map[author], op.value, `${label}: the fold picks another card`);
      const terms = cardTerms(op.value as AgentCard);
      assert.deepEqual(
        { skills: record.skills, tags: record.tags, words: record.words },
        terms,
        label,
      );
    } else {
      assert.equal(author in map, false, `${label}: the fold keeps a withdrawn card`);
    }
    for (const key of entryKeys(author, record)) expectedEntries.add(key.join("/"));
  }
  const listed = new Set<string>();
  for (const part of ["all", "skill", "tag", "word"]) {
    let after: readonly string[] | undefined;
    for (;;) {
      const page = await store.listIndex(["registry", part], { after, limit: 500 });
      for (const e of page.entries) listed.add(e.key.join("/"));
      if (!page.more) break;
      after = page.entries.at(-1)!.key;
    }
  }
  assert.deepEqual([...listed].sort(), [...expectedEntries].sort(), `${label}: listing entries`);
}

Deno.test("the Wide cards reach every index limit, so replacing one by the other is the largest write", () => {
  const terms = cardTerms(CARDS[4]);
  assert.equal(terms.skills.length, CARD_SKILLS_MAX);
  assert.equal(terms.tags.length, CARD_TAGS_MAX);
  assert.equal(terms.words.length, CARD_WORDS_MAX);
  const record = { id: "x", ts: T, lc: 0, seq: 1, deleted: false, ...terms };
  assert.equal(entryKeys(fakeAuthor(1), record).length, CARD_ENTRIES_MAX);
});

Deno.test("RegistryIndexer on MemoryStore: the index equals the fold of _registry for random histories", async () => {
  for (const seed of seedsToRun(SEEDS)) await runSeed(seed, new MemoryStore());
});

Deno.test("RegistryIndexer on DenoKvStore: the index equals the fold of _registry for random histories", async () => {
  for (const seed of seedsToRun(SEEDS).slice(0, 5)) {
    const store = new DenoKvStore(await Deno.openKv(":memory:"));
    try {
      await runSeed(seed, store);
    } finally {
      await store.close();
    }
  }
});

upstashTest(
  "RegistryIndexer on UpstashStore: the index equals the fold of _registry for random histories",
  async (env) => {
    for (const seed of seedsToRun(SEEDS).slice(0, 3)) {
      const store = new UpstashStore({
        url: env.rest.url,
        token: env.rest.token,
        prefix: `seed${seed}:`,
      });
      try {
        await runSeed(seed, store);
      } finally {
        await store.close();
      }
    }
  },
);
