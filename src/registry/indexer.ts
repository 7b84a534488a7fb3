/**
 * Keeps the discovery index equal to the fold of `_registry`: follows the channel's arrivals
 * from a durable cursor that every instance of the region shares, and for each delta replaces
 * its author's record and listing entries when the delta's stamp beats the record's — in one
 * conditional `writeIndex` that expects the record it read (another instance that got there
 * first makes it re-read and decide again). The replacements of a page go in as few writes as
 * the store's limits allow. Idempotent and crash-safe: the cursor moves only
 * after the page's writes, so a crash re-indexes a page, which changes nothing.
 */
import { parseAgentCard, REGISTRY_CHANNEL } from "../protocol/agent_card.ts";
import type { DeltaBody } from "../protocol/delta.ts";
import { compareStamps } from "../crdt/stamp.ts";
import {
  INDEX_READ_KEYS_MAX,
  INDEX_WRITE_EXPECT_MAX,
  INDEX_WRITE_KEYS_MAX,
  INDEX_WRITE_VALUE_CHARS_MAX,
} from "../store/index_limits.ts";
import type { IndexKey, IndexWrite, RegionStore, StoredDelta } from "../store/region_store.ts";
import { cardKey, type CardRecord, cardTerms, entryKeys, parseCardRecord } from "./index_layout.ts";

/** The store cursor naming the last `_registry` arrival indexed. */
export const REGISTRY_CURSOR = "registry:indexed";
/** Arrivals read per page while indexing. */
export const INDEX_PAGE_DELTAS = 200;
/** Times one delta's conditional write is retried after another writer moved the record. */
export const INDEX_WRITE_TRIES_MAX = 16;

/** What indexing one delta did. */
export type IndexOutcome = "applied" | "superseded";

export interface CatchUp {
  /** Deltas read from the arrivals. */
  readonly deltas: number;
  readonly applied: number;
  /** The index is caught up with every arrival stored before the call. */
  readonly done: boolean;
}

export class RegistryIndexer {
  readonly #store: RegionStore;
  /** The run under way in this instance, and the one queued behind it. */
  #running: Promise<CatchUp> | null = null;
  #queued: { pagesMax: number; run: Promise<CatchUp> } | null = null;

  constructor(store: RegionStore) {
    this.#store = store;
  }

  /**
   * Indexes `_registry` arrivals after the shared cursor, at most `pagesMax` pages (unbounded
   * when omitted): everything stored before the call, when it reports `done`. A call that finds
   * a run under way does not take its result (that run may have listed the arrivals before this
   * caller's delta was stored): it waits for one run queued behind it, shared by every caller
   * that queues meanwhile, with the largest `pagesMax` they asked for.
   */
  catchUp(pagesMax = Infinity): Promise<CatchUp> {
    if (this.#running === null) return this.#start(pagesMax);
    if (this.#queued !== null) {
      this.#queued.pagesMax = Math.max(this.#queued.pagesMax, pagesMax);
      return this.#queued.run;
    }
    const queued = { pagesMax, run: null as unknown as Promise<CatchUp> };
    queued.run = this.#running.catch(() => undefined).then(() => {
      this.#queued = null;
      return this.#start(queued.pagesMax);
    });
    this.#queued = queued;
    return queued.run;
  }

  #start(pagesMax: number): Promise<CatchUp> {
    const run = this.#run(pagesMax).finally(() => {
      if (this.#running === run) this.#running = null;
    });
    this.#running = run;
    return run;
  }

  async #run(pagesMax: number): Promise<CatchUp> {
    let deltas = 0, applied = 0;
    for (let pages = 0; pages < pagesMax; pages++) {
      const cursor = await this.#store.getCursor(REGISTRY_CURSOR);
      const page = await this.#store.listArrivals(REGISTRY_CHANNEL, cursor, INDEX_PAGE_DELTAS);
      // Only each author's latest delta of the page can change the index: one record per author,
      // however many times it re-announced (writes for one author would only race each other).
      deltas += page.deltas.length;
      applied += await this.#indexPage(latestPerAuthor(page.deltas));
      if (page.deltas.length > 0) await this.#store.advanceCursor(REGISTRY_CURSOR, page.cursor);
      if (!page.more) return { deltas, applied, done: true };
    }
    return { deltas, applied, done: false };
  }

  /**
   * Indexes deltas of distinct authors: one read of their records, then their replacements
   * grouped into as few conditional writes as the store's limits allow (each store commit costs
   * about as much whatever it holds). A group whose expectation fails — another writer moved one
   * of its records — is indexed again delta by delta. Returns how many deltas were applied.
   */
  async #indexPage(deltas: readonly StoredDelta[]): Promise<number> {
    const pending: CardWrite[] = [];
    for (let i = 0; i < deltas.length; i += INDEX_READ_KEYS_MAX) {
      const chunk = deltas.slice(i, i + INDEX_READ_KEYS_MAX).map((delta) => {
        const body = JSON.parse(delta.body) as DeltaBody;
        return { delta, author: body.author, next: recordOf(delta.id, body) };
      });
      const texts = await this.#store.readIndex(chunk.map((c) => cardKey(c.author)));
      chunk.forEach((c, j) => {
        const current = parseCardRecord(texts[j]);
        if (current !== null && !beats(c.next, current, c.author)) return;
        pending.push({ delta: c.delta, write: replacement(c.author, texts[j], current, c.next) });
      });
    }
    const counts = await Promise.all(
      groupWrites(pending).map(async (group) => {
        if (await this.#store.writeIndex(mergeWrites(group.map((c) => c.write)))) {
          return group.length;
        }
        const outcomes = await Promise.all(group.map((c) => this.indexDelta(c.delta)));
        return outcomes.filter((o) => o === "applied").length;
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /**
   * Makes the index reflect one stored `_registry` delta: `applied` when it became its author's
   * card (or withdrawal), `superseded` when the index holds a later one. Idempotent.
   */
  async indexDelta(delta: StoredDelta): Promise<IndexOutcome> {
    const body = JSON.parse(delta.body) as DeltaBody;
    const next = recordOf(delta.id, body);
    const key = cardKey(body.author);
    for (let attempt = 0; attempt < INDEX_WRITE_TRIES_MAX; attempt++) {
      const [text] = await this.#store.readIndex([key]);
      const current = parseCardRecord(text);
      if (current !== null && !beats(next, current, body.author)) return "superseded";
      const written = await this.#store.writeIndex(replacement(body.author, text, current, next));
      if (written) return "applied";
    }
    throw new Error(
      `Cannot index ${REGISTRY_CHANNEL} delta ${delta.id}: its record kept changing`,
    );
  }
}

/** One delta's replacement of its author's record, made from the record it read. */
interface CardWrite {
  readonly delta: StoredDelta;
  readonly write: IndexWrite;
}

/** The writes in groups, in order, each group within one store index write's limits. */
function groupWrites(writes: readonly CardWrite[]): CardWrite[][] {
  const groups: CardWrite[][] = [];
  let group: CardWrite[] = [], keys = 0, expects = 0, chars = 0;
  for (const c of writes) {
    const w = c.write;
    const k = (w.expect?.length ?? 0) + (w.set?.length ?? 0) + (w.delete?.length ?? 0);
    const e = w.expect?.length ?? 0;
    const v = (w.set ?? []).reduce((sum, s) => sum + s.value.length, 0);
    if (
      group.length > 0 && (keys + k > INDEX_WRITE_KEYS_MAX ||
        expects + e > INDEX_WRITE_EXPECT_MAX || chars + v > INDEX_WRITE_VALUE_CHARS_MAX)
    ) {
      groups.push(group);
      group = [], keys = 0, expects = 0, chars = 0;
    }
    group.push(c), keys += k, expects += e, chars += v;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** One write doing all of `writes` (their keys are distinct: one author each). */
function mergeWrites(writes: readonly IndexWrite[]): IndexWrite {
  return {
    expect: writes.flatMap((w) => w.expect ?? []),
    set: writes.flatMap((w) => w.set ?? []),
    delete: writes.flatMap((w) => w.delete ?? []),
  };
}

/** Of each author's deltas, the one that wins the LWW order of its key. */
function latestPerAuthor(deltas: readonly StoredDelta[]): StoredDelta[] {
  const best = new Map<string, { delta: StoredDelta; record: CardRecord }>();
  for (const delta of deltas) {
    const body = JSON.parse(delta.body) as DeltaBody;
    const record = recordOf(delta.id, body);
    const held = best.get(body.author);
    if (held === undefined || beats(record, held.record, body.author)) {
      best.set(body.author, { delta, record });
    }
  }
  return [...best.values()].map((b) => b.delta);
}

/** The record a `_registry` delta makes (its shape was checked at ingest). */
function recordOf(id: string, body: DeltaBody): CardRecord {
  const op = body.ops[0];
  const base = { id, ts: body.ts, lc: body.lc, seq: body.seq };
  const parsed = op.op === "set" ? parseAgentCard(op.value) : null;
  if (parsed === null || !parsed.ok) {
    return { ...base, deleted: true, skills: [], tags: [], words: [] };
  }
  return { ...base, deleted: false, ...cardTerms(parsed.card) };
}

/** Whether `a` wins over `b` in the LWW order of one author's key (op index is always 0). */
function beats(a: CardRecord, b: CardRecord, author: string): boolean {
  const stamp = (r: CardRecord) => ({ ts: r.ts, lc: r.lc, author, seq: r.seq, op: 0, id: r.id });
  return compareStamps(stamp(a), stamp(b)) > 0;
}

/** The write that replaces `current` (held as `text`) with `next`, expecting `text`. */
function replacement(
  author: string,
  text: string | null,
  current: CardRecord | null,
  next: CardRecord,
): IndexWrite {
  const join = (k: IndexKey) => k.join("\u0000");
  const added = entryKeys(author, next);
  const keep = new Set(added.map(join));
  const removed = current === null
    ? []
    : entryKeys(author, current).filter((k) => !keep.has(join(k)));
  return {
    expect: [{ key: cardKey(author), value: text }],
    delete: removed,
    set: [
      { key: cardKey(author), value: JSON.stringify(next) },
      ...added.map((key) => ({ key, value: "" })),
    ],
  };
}
