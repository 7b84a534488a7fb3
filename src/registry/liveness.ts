/**
 * Liveness: per agent, the largest signed `ts` among its deltas this region stores, in any
 * channel, and the region that stored that delta. Noted at ingest in bounded per-instance memory
 * and written to the store at most once per `SEEN_WRITE_INTERVAL_MS` per author per instance (a
 * push does not cost a store write each time); what waits is written by the next note after the
 * interval or by `flush()` (the registry's periodic job). The store record only ever rises, by a
 * conditional write, so many instances agree.
 */
import type { RegionStore } from "../store/region_store.ts";
import { parseSeenRecord, seenKey, type SeenRecord } from "./index_layout.ts";

/** Least ms of the region clock between two writes of one author's record by one instance. */
export const SEEN_WRITE_INTERVAL_MS = 10_000;
/** Authors one instance remembers; the least recently noted are written out and forgotten. */
export const SEEN_CACHE_AUTHORS_MAX = 10_000;
/** Authors one flush writes at most (the rest wait for the next). */
export const SEEN_FLUSH_AUTHORS_MAX = 1_000;
/** Times one record's conditional write is retried after another instance moved it. */
const SEEN_WRITE_TRIES_MAX = 8;

interface Entry {
  /** Largest ts written to the store by this instance (or found there). */
  written: number;
  writtenAtMs: number;
  /** Larger ts noted since, waiting for the interval: with the region that stored it. */
  pending: SeenRecord | null;
}

export class Liveness {
  readonly #store: RegionStore;
  /** Insertion order = least recently noted first. */
  readonly #cache = new Map<string, Entry>();

  constructor(store: RegionStore) {
    this.#store = store;
  }

  /** Authors with a newer `ts` waiting to be written. */
  get pending(): number {
    let n = 0;
    for (const e of this.#cache.values()) if (e.pending !== null) n++;
    return n;
  }

  /**
   * Notes stored deltas (`author`, signed `ts`) that `region` stored; writes the authors whose
   * interval has passed. Throws `StoreUnavailableError` when a write fails (what it noted stays).
   */
  async note(
    deltas: readonly { readonly author: string; readonly ts: number }[],
    region: string,
    nowMs: number,
  ): Promise<void> {
    const newest = new Map<string, number>();
    for (const d of deltas) newest.set(d.author, Math.max(newest.get(d.author) ?? -1, d.ts));
    const due: string[] = [];
    for (const [author, ts] of newest) {
      const entry = this.#touch(author);
      if (ts <= entry.written || ts <= (entry.pending?.ts ?? -1)) continue;
      entry.pending = { ts, region };
      if (nowMs - entry.writtenAtMs >= SEEN_WRITE_INTERVAL_MS || nowMs < entry.writtenAtMs) {
        due.push(author);
      }
    }
    await this.#evict(nowMs);
    await Promise.all(due.map((a) => this.#write(a, nowMs)));
  }

  /** Writes every waiting record (up to `SEEN_FLUSH_AUTHORS_MAX`); the count written. */
  async flush(nowMs: number): Promise<number> {
    const due = [...this.#cache].filter(([, e]) => e.pending !== null).map(([a]) => a)
      .slice(0, SEEN_FLUSH_AUTHORS_MAX);
    await Promise.all(due.map((a) => this.#write(a, nowMs)));
    return due.length;
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
    await Promise.all(
      oldest.filter((a) => this.#cache.get(a)!.pending !== null).map((a) => this.#write(a, nowMs)),
    );
    for (const a of oldest) this.#cache.delete(a);
  }

  /** Raises the store record of `author` to its pending ts, if it is higher. */
  async #write(author: string, nowMs: number): Promise<void> {
    const entry = this.#cache.get(author);
    const pending = entry?.pending;
    if (entry === undefined || pending === null || pending === undefined) return;
    const key = seenKey(author);
    for (let attempt = 0; attempt < SEEN_WRITE_TRIES_MAX; attempt++) {
      const [text] = await this.#store.readIndex([key]);
      const stored = parseSeenRecord(text);
      if (stored !== null && stored.ts >= pending.ts) {
        this.#settle(entry, stored.ts, pending, nowMs);
        return;
      }
      const value = JSON.stringify(pending);
      if (await this.#store.writeIndex({ expect: [{ key, value: text }], set: [{ key, value }] })) {
        this.#settle(entry, pending.ts, pending, nowMs);
        return;
      }
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
