/**
 * Fixtures of the view checkpoint tests: unsigned store records (views do not verify; ingest
 * did), a channel filled with map, set and counter ops from a few authors, and the view of a
 * store folded from scratch, without checkpoints.
 */
import { deltaId, type Op } from "../../src/protocol/delta.ts";
import { utf8Encode } from "../../src/protocol/utf8.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import type { RegionStore, StoredDelta } from "../../src/store/region_store.ts";
import { fakeAuthor } from "../support/deltas.ts";

export const CHANNEL = "room";

/** `author`'s delta `seq` with `ops`; `ts` varies with `salt` so that one seq can be signed twice. */
export function record(author: string, seq: number, ops: Op[], salt = 0): StoredDelta {
  const body = JSON.stringify({
    v: 1,
    author,
    seq,
    channel: CHANNEL,
    ts: 1_700_000_000_000 + seq * 10 + salt,
    lc: 0,
    ops,
  });
  return {
    id: deltaId(utf8Encode(body)),
    channel: CHANNEL,
    author,
    seq,
    body,
    sig: "A".repeat(86),
  };
}

/**
 * Tracks each author's seq and last add, and makes deltas that write a key, add an element and
 * remove the author's previous add, count, and now and then write a non-Latin-1 value.
 */
export class Writer {
  readonly #seqs = new Map<string, number>();
  readonly #lastAdd = new Map<string, { elem: string; tag: string }>();

  next(n: number): StoredDelta {
    const author = fakeAuthor(n);
    const seq = (this.#seqs.get(author) ?? 0) + 1;
    this.#seqs.set(author, seq);
    const ops: Op[] = [
      { op: "set", key: `k${(n * 7 + seq) % 40}`, value: seq % 5 === 0 ? `é😀${seq}` : seq },
      { op: "add", set: "here", elem: `e${seq % 9}` },
      { op: "inc", counter: "n", by: n % 2 === 0 ? 1 : -1 },
    ];
    const last = this.#lastAdd.get(author);
    if (last !== undefined) ops.push({ op: "rmv", set: "here", elem: last.elem, tags: [last.tag] });
    const delta = record(author, seq, ops);
    this.#lastAdd.set(author, { elem: `e${seq % 9}`, tag: `${delta.id}:1` });
    return delta;
  }

  /** `count` deltas from `authors` authors in turn, stored in batches. */
  async fill(store: RegionStore, count: number, authors = 5): Promise<void> {
    const batch: StoredDelta[] = [];
    for (let i = 0; i < count; i++) {
      batch.push(this.next(i % authors));
      if (batch.length === 200) await store.putDeltas(batch.splice(0));
    }
    if (batch.length > 0) await store.putDeltas(batch);
  }
}

/** The channel's view text folded from every arrival, by a fresh instance without checkpoints. */
export async function viewFromScratch(store: RegionStore): Promise<string> {
  return (await new ChannelViews(store, { checkpoints: false }).read(CHANNEL)).state.viewText();
}

/** `author`'s second delta at `seq`: an equivocation, which quarantines the author. */
export function equivocation(author: string, seq: number): StoredDelta {
  return record(author, seq, [{ op: "set", key: "equivocated", value: true }], 1);
}
