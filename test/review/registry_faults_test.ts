/**
 * Review of the indexer's crash and failure safety (6d50d4e): after random histories
 * (re-announces, withdrawals, clocks that go back and tie, equivocations, duplicates) stored in
 * random batches, indexed by two indexers at once over one store that fails at random —
 * StoreUnavailableError before a call, or after a write it did apply (a lost answer) — and
 * indexers that "crash" (are replaced mid-way), discovery through the routes answers exactly
 * the `_registry` view's map: every agent, every card, each tag listing with no stale and no
 * missing agent.
 */
import assert from "node:assert/strict";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import type { AgentCard } from "../../src/protocol/agent_card.ts";
import { REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { RegistryIndexer } from "../../src/registry/indexer.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import {
  type ArrivalPage,
  type IndexKey,
  type IndexWrite,
  type StoredDelta,
  StoreUnavailableError,
} from "../../src/store/region_store.ts";
import { fakeAuthor } from "../support/deltas.ts";
import { Rng, seedsToRun } from "../support/seeded_rng.ts";
import { T0_MS } from "../support/signing.ts";
import { card, cardRecord, discoverAll } from "../registry/_cards.ts";

const CARDS: AgentCard[] = [
  card("Alpha Translator", { translate: ["language", "Text"] }),
  card("Beta Summariser", { summarise: ["text"], translate: ["LANGUAGE"] }),
  card("Gamma Vision", { ocr: ["image"] }, "reads images and text"),
  card("Delta", {}, "no skills at all"),
  card("Epsilon", { ocr: ["image", "text"], chat: ["talk"] }, "talks"),
];
const TAGS = ["language", "text", "image", "talk"];

/** A MemoryStore whose index and cursor calls fail at random, some after doing their work. */
class FlakyStore extends MemoryStore {
  constructor(readonly rng: Rng, public rate: number) {
    super();
  }
  #maybe(): void {
    if (this.rng.chance(this.rate)) throw new StoreUnavailableError("flaky: before");
  }
  override async writeIndex(write: IndexWrite) {
    this.#maybe();
    const done = await super.writeIndex(write);
    if (this.rng.chance(this.rate)) throw new StoreUnavailableError("flaky: answer lost");
    return done;
  }
  override readIndex(keys: readonly IndexKey[]) {
    this.#maybe();
    return super.readIndex(keys);
  }
  override async advanceCursor(name: string, n: number) {
    this.#maybe();
    const after = await super.advanceCursor(name, n);
    if (this.rng.chance(this.rate)) throw new StoreUnavailableError("flaky: answer lost");
    return after;
  }
  override listArrivals(channel: string, after: number, limit: number): Promise<ArrivalPage> {
    this.#maybe();
    return super.listArrivals(channel, after, limit);
  }
}

function history(rng: Rng): StoredDelta[] {
  const out: StoredDelta[] = [];
  const authors = Array.from({ length: rng.between(3, 9) }, (_, i) => fakeAuthor(500 + i));
  for (const author of authors) {
    let seq = 0;
    for (let k = rng.between(1, 9); k > 0; k--) {
      seq++;
      const ts = T0_MS + rng.int(4) * 1_000;
      const value = rng.chance(0.25) ? null : rng.pick(CARDS);
      out.push(cardRecord(author, seq, ts, rng.int(3), value));
      if (rng.chance(0.05)) out.push(cardRecord(author, seq, ts + 7, 0, rng.pick(CARDS)));
    }
  }
  return out;
}

Deno.test("registry review (guard): flaky store, two indexers, crashes: discovery is the view", async () => {
  for (const seed of seedsToRun([3, 7, 11, 19, 23, 42, 77, 101])) {
    const rng = new Rng(seed);
    const store = new FlakyStore(rng, 0.15);
    const registry = new Registry({ region: "eu-1", store, now: () => T0_MS + 3_600_000 });
    const app = meshRegionApp({
      region: "eu-1",
      store,
      now: () => T0_MS + 3_600_000,
      registry,
    });
    let one = new RegistryIndexer(store), two = new RegistryIndexer(store);
    const deltas = rng.shuffle(history(rng));
    for (let i = 0; i < deltas.length;) {
      const batch = deltas.slice(i, i += rng.between(1, 5));
      store.rate = 0;
      await store.putDeltas(rng.chance(0.2) ? [...batch, ...batch] : batch, "agent");
      store.rate = 0.15;
      const runs = [one.catchUp(rng.between(1, 2)), two.catchUp(rng.between(1, 2))];
      await Promise.allSettled(runs);
      if (rng.chance(0.2)) one = new RegistryIndexer(store); // a crash: a new instance
      if (rng.chance(0.2)) two = new RegistryIndexer(store);
    }
    store.rate = 0;
    while (!(await one.catchUp()).done);
    // The channel's fold (`_registry` has no view over HTTP).
    const fold = (await new ChannelViews(store).read(REGISTRY_CHANNEL)).state.viewText();
    const map = JSON.parse(fold).map as Record<string, AgentCard>;
    const found = await discoverAll(app, "limit=7");
    console.log(
      `seed ${seed}: ${deltas.length} deltas, ${
        Object.keys(map).length
      } cards in the view, ${found.length} found`,
    );
    assert.deepEqual(
      Object.fromEntries(found.map((a) => [a.id, a.card])),
      map,
      `seed ${seed}: discovery is the view's map`,
    );
    for (const tag of TAGS) {
      const listed = (await discoverAll(app, `tag=${tag}&limit=3`)).map((a) => a.id).sort();
      const expected = Object.entries(map)
        .filter(([, c]) => c.skills.some((s) => s.tags.some((t) => t.toLowerCase() === tag)))
        .map(([id]) => id).sort();
      assert.deepEqual(listed, expected, `seed ${seed}: tag ${tag}`);
    }
  }
});
