/**
 * The indexer writes a page's card replacements in groups (as few store commits as the index
 * limits allow), and a group another writer got to first is indexed again delta by delta without
 * losing the others: on the real Deno KV store.
 */
import assert from "node:assert/strict";
import { cardKey, parseCardRecord } from "../../src/registry/index_layout.ts";
import { RegistryIndexer } from "../../src/registry/indexer.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { INDEX_WRITE_KEYS_MAX } from "../../src/store/index_limits.ts";
import type { IndexWrite } from "../../src/store/region_store.ts";
import { fakeAuthor } from "../support/deltas.ts";
import { card, cardRecord } from "./_cards.ts";

const T = 1_767_225_600_000;
const CARD = card("Group Member", { translate: ["language", "text"] }, "indexed in a group");

/** A Deno KV store that counts index writes and can run something before the next one. */
class WatchedStore extends DenoKvStore {
  writes: IndexWrite[] = [];
  beforeNextWrite: (() => Promise<void>) | null = null;
  override async writeIndex(write: IndexWrite): Promise<boolean> {
    const before = this.beforeNextWrite;
    this.beforeNextWrite = null;
    if (before !== null) await before();
    this.writes.push(write);
    return super.writeIndex(write);
  }
}

async function withStore(fn: (store: WatchedStore) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const store = new WatchedStore(await Deno.openKv(`${dir}/kv.sqlite3`));
  try {
    await fn(store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("indexer: a page of new cards goes in a few grouped writes, each within the limits", () =>
  withStore(async (store) => {
    const deltas = Array.from({ length: 60 }, (_, i) => cardRecord(fakeAuthor(i), 1, T, 0, CARD));
    await store.putDeltas(deltas, "agent");
    const result = await new RegistryIndexer(store).catchUp();
    assert.deepEqual(result, { deltas: 60, applied: 60, done: true });
    assert.ok(store.writes.length <= 20, `${store.writes.length} writes for 60 cards`);
    for (const w of store.writes) {
      const keys = (w.expect?.length ?? 0) + (w.set?.length ?? 0) + (w.delete?.length ?? 0);
      assert.ok(keys <= INDEX_WRITE_KEYS_MAX);
    }
    for (const d of deltas) {
      const [text] = await store.readIndex([cardKey(d.author)]);
      assert.equal(parseCardRecord(text)?.id, d.id);
    }
  }));

Deno.test("indexer: a group whose record another writer moved is indexed delta by delta", () =>
  withStore(async (store) => {
    const deltas = Array.from({ length: 6 }, (_, i) => cardRecord(fakeAuthor(i), 1, T, 0, CARD));
    await store.putDeltas(deltas, "agent");
    // Between the page's read and its first grouped write, another instance indexes a newer
    // card of author 0: the group expecting author 0's empty record fails as a whole.
    const newer = cardRecord(fakeAuthor(0), 2, T + 1_000, 0, card("Newer", {}));
    await store.putDeltas([newer], "agent");
    store.beforeNextWrite = async () => {
      assert.equal(await new RegistryIndexer(store).indexDelta(newer), "applied");
    };
    const result = await new RegistryIndexer(store).catchUp(1);
    // The page held all seven arrivals; author 0's two count once, and the winner was already in.
    assert.equal(result.deltas, 7);
    assert.equal(result.applied, 5);
    // The sneak's write, the failed group, then one write per card of the group.
    assert.equal(store.writes.length, 1 + 1 + 5);
    for (let i = 0; i < 6; i++) {
      const [text] = await store.readIndex([cardKey(fakeAuthor(i))]);
      assert.equal(parseCardRecord(text)?.id, i === 0 ? newer.id : deltas[i].id);
    }
  }));
