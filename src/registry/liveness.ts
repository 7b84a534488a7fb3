/**
 * Liveness: per agent, the largest signed `ts` among its deltas this region stores, in any
 * channel, and the region that stored that delta. Noted at ingest in bounded per-instance memory,
 * never with a store write in the push path: what is due (see `isDue`: the store record would
 * lag by `SEEN_WRITE_INTERVAL_MS`, or this instance last wrote it that long ago) is written in
 * the background, many authors per store write, and the rest by `flush()` (the registry's
 * periodic job, and `close()`). An instance that ends abruptly loses less than
 * `SEEN_WRITE_INTERVAL_MS` of any agent's liveness. Answers of this instance merge
 * what it noted and has not written yet (`noted`). The store record only ever rises, by a
 * conditional write, so many instances agree.
 */
import type { IndexKey, RegionStore } from "../store/region_store.ts";
import { parseSeenRecord, seenKey, type SeenRecord } from "./index_layout.ts";
import { log as rootLog, type Logger, names } from "../telemetry/mod.ts";

/** Least ms of the region clock between two writes of one author's record by one instance. */
export const SEEN_WRITE_INTERVAL_MS = 10_000;
/** Authors one instance remembers; the least recently noted are written out and forgotten. */
export const SEEN_CACHE_AUTHORS_MAX = 10_000;
/** Authors one flush writes at most (the rest wait for the next). */
export const SEEN_FLUSH_AUTHORS_MAX = 1_000;
/** Authors' records raised by one store write (each is an expectation of the write). */
export const SEEN_WRITE_BATCH_AUTHORS = 32;
/** Times one record's conditional write is retried after another instance moved it. */
const SEEN_WRITE_TRIES_MAX = 8;

interface Entry {
  /** Largest ts written to the store by this instance (or found there). */
  written: number;
  writtenAtMs: number;
  /** Larger ts noted since, waiting to be written: with the region that stored it. */
  pending: SeenRecord | null;
}

export class Liveness {
  readonly #store: RegionStore;
  /** Insertion order = least recently noted first. */
  readonly #cache = new Map<string, Entry>();
  /** The background write of what is due; one at a time. */
  #writing: Promise<void> | null = null;
  readonly #log: Logger;
  readonly #background: (work: Promise<unknown>) => void;

  /**
   * `log`: where a failed background write is told (the job retries it). `background`: told of
   * each background write (an edge host keeps the request that started it alive until it ends).
   */
  constructor(
    store: RegionStore,
    log: Logger = rootLog,
    background: (work: Promise<unknown>) => void = () => {},
  ) {
    this.#store = store;
    this.#log = log;
    this.#background = background;
  }

  /** Authors with a newer `ts` waiting to be written. */
  get pending(): number {
    let n = 0;
    for (const e of this.#cache.values()) if (e.pending !== null) n++;
    return n;
  }

  /** What this instance noted of `author` and has not written yet, or null. */
  noted(author: string): SeenRecord | null {
    return this.#cache.get(author)?.pending ?? null;
  }

  /**
   * Notes stored deltas (`author`, signed `ts`) that `region` stored. Never waits on the store:
   * authors whose interval has passed are written in the background (failures are logged and
   * left for the job).
   */
  note(
    deltas: readonly { readonly author: string; readonly ts: number }[],
    region: string,
    nowMs: number,
  ): void {
    const newest = new Map<string, number>();
    for (const d of deltas) newest.set(d.author, Math.max(newest.get(d.author) ?? -1, d.ts));
    let due = false;
    for (const [author, ts] of newest) {
      const entry = this.#touch(author);
      if (ts <= entry.written || ts <= (entry.pending?.ts ?? -1)) continue;
      entry.pending = { ts, region };
      due ||= isDue(entry, nowMs);
    }
    if (due || this.#cache.size > SEEN_CACHE_AUTHORS_MAX) this.#writeSoon(nowMs);
  }

  /** Writes every waiting record (up to `SEEN_FLUSH_AUTHORS_MAX`); the count written. */
  async flush(nowMs: number): Promise<number> {
    while (this.#writing !== null) await this.#writing;
    const due = [...this.#cache].filter(([, e]) => e.pending !== null).map(([a]) => a)
      .slice(0, SEEN_FLUSH_AUTHORS_MAX);
    await this.#writeAll(due, nowMs);
    await this.#evict(nowMs);
    return due.length;
  }

  /** Starts a background write of the due authors, unless one runs. */
  #writeSoon(nowMs: number): void {
    if (this.#writing !== null) return;
    const due = [...this.#cache].filter(([, e]) => isDue(e, nowMs)).map(([a]) => a)
      .slice(0, SEEN_FLUSH_AUTHORS_MAX);
    this.#writing = this.#writeAll(due, nowMs)
      .then(() => this.#evict(nowMs))
      .catch((error) => this.#log.warn(names.EVENT_REGISTRY_FAILED, { work: "liveness", error }))
      .finally(() => this.#writing = null);
    this.#background(this.#writing);
  }

  /** The entry of `author`, moved to the most recent end (created empty). */
  #touch(author: string): Entry {
    const entry = this.#cache.get(author) ??
      { written: -1, writtenAtMs: -Infinity, pending: null };
    this.#cache.delete(author);
    this.#cache.set(author, entry);
    return entry;
  }

  /** Forgets the least recently noted authors beyond the bound, writing what they wait for. */
  async #evict(nowMs: number): Promise<void> {
    const over = this.#cache.size - SEEN_CACHE_AUTHORS_MAX;
    if (over <= 0) return;
    const oldest = [...this.#cache.keys()].slice(0, over);
    await this.#writeAll(oldest.filter((a) => this.#cache.get(a)!.pending !== null), nowMs);
    for (const a of oldest) if (this.#cache.get(a)?.pending === null) this.#cache.delete(a);
  }

  /** Raises the records of `authors` to their pending ts, `SEEN_WRITE_BATCH_AUTHORS` a write. */
  async #writeAll(authors: readonly string[], nowMs: number): Promise<void> {
    for (let i = 0; i < authors.length; i += SEEN_WRITE_BATCH_AUTHORS) {
      const batch = authors.slice(i, i + SEEN_WRITE_BATCH_AUTHORS);
      if (!await this.#writeBatch(batch, nowMs)) {
        for (const author of batch) await this.#write(author, nowMs);
      }
    }
  }

  /** One conditional write raising every record of `authors` that needs it; false on a race. */
  async #writeBatch(authors: readonly string[], nowMs: number): Promise<boolean> {
    const keys: IndexKey[] = authors.map(seenKey);
    const texts = await this.#store.readIndex(keys);
    const expect: { key: IndexKey; value: string | null }[] = [];
    const set: { key: IndexKey; value: string }[] = [];
    const wrote: [Entry, SeenRecord][] = [];
    authors.forEach((author, i) => {
      const entry = this.#cache.get(author);
      const pending = entry?.pending;
      if (entry === undefined || pending === null || pending === undefined) return;
      const stored = parseSeenRecord(texts[i]);
      if (stored !== null && stored.ts >= pending.ts) {
        this.#settle(entry, stored.ts, pending, nowMs);
        return;
      }
      expect.push({ key: keys[i], value: texts[i] });
      set.push({ key: keys[i], value: JSON.stringify(pending) });
      wrote.push([entry, pending]);
    });
    if (set.length === 0) return true;
    if (!await this.#store.writeIndex({ expect, set })) return false;
    for (const [entry, pending] of wrote) this.#settle(entry, pending.ts, pending, nowMs);
    return true;
  }

  /** Raises the store record of `author` to its pending ts, if it is higher. */
  async #write(author: string, nowMs: number): Promise<void> {
    for (let attempt = 0; attempt < SEEN_WRITE_TRIES_MAX; attempt++) {
      if (await this.#writeBatch([author], nowMs)) return;
    }
  }

  #settle(entry: Entry, written: number, wrote: SeenRecord, nowMs: number): void {
    entry.written = Math.max(entry.written, written);
    entry.writtenAtMs = nowMs;
    // A larger ts noted while the write ran still waits.
    if (entry.pending === wrote || (entry.pending?.ts ?? -1) <= entry.written) {
      entry.pending = null;
    }
  }
}

/**
 * Whether an author's waiting ts should be written now: the store record would otherwise lag it
 * by `SEEN_WRITE_INTERVAL_MS` or more (so an instance that ends loses at most that much of an
 * agent's liveness), or this instance has not written it for that long.
 */
function isDue(entry: Entry, nowMs: number): boolean {
  if (entry.pending === null) return false;
  return entry.pending.ts - entry.written >= SEEN_WRITE_INTERVAL_MS ||
    nowMs - entry.writtenAtMs >= SEEN_WRITE_INTERVAL_MS || nowMs < entry.writtenAtMs;
}
