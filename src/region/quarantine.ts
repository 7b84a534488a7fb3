/**
 * The authors a region's delta set proves to have equivocated: the keys of the `set` ops of the
 * `_equivocations` channel (every delta stored there passed the proof check at ingest, and the
 * channel admits no `del`, so the set only grows). Kept per store per instance, caught up from
 * the channel's arrivals (one empty page when nothing new arrived): on every view read, and on
 * ingest at most once per `QUARANTINE_REFRESH_MS` of the region clock, so a push costs no extra
 * store round trip. Proofs stored through this instance are noted at once; one stored by another
 * instance of the region is enforced at ingest within that period (views exclude the author's
 * deltas whatever was stored meanwhile).
 */
import { EQUIVOCATIONS_CHANNEL } from "../protocol/equivocation.ts";
import type { Op } from "../protocol/delta.ts";
import type { RegionStore } from "../store/region_store.ts";

/** Deltas of `_equivocations` read per page while catching up. */
export const QUARANTINE_CATCHUP_PAGE_DELTAS = 1_000;
/** Most ms of the region clock ingest relies on the cached set before reading the store again. */
export const QUARANTINE_REFRESH_MS = 1_000;

export class Quarantine {
  readonly #store: RegionStore;
  readonly #authors = new Set<string>();
  #cursor = 0;
  #version = 0;
  #refreshedAtMs: number | null = null;
  #inflight: Promise<ReadonlySet<string>> | null = null;

  constructor(store: RegionStore) {
    this.#store = store;
  }

  /** Rises whenever the set grows. */
  get version(): number {
    return this.#version;
  }

  /** Quarantines `author` in this instance now (a proof against it was just stored here). */
  note(author: string): void {
    if (this.#authors.has(author)) return;
    this.#authors.add(author);
    this.#version++;
  }

  /**
   * The quarantined authors, caught up with everything stored before the call; or, given the
   * region clock `nowMs`, the cached set when it was caught up less than `QUARANTINE_REFRESH_MS`
   * before.
   */
  authors(nowMs?: number): Promise<ReadonlySet<string>> {
    const last = this.#refreshedAtMs;
    if (
      nowMs !== undefined && last !== null && nowMs >= last && nowMs - last < QUARANTINE_REFRESH_MS
    ) {
      return Promise.resolve(this.#authors);
    }
    const running = this.#inflight;
    if (running !== null) return running.then(() => this.authors());
    const work = this.#catchUp(nowMs).finally(() => this.#inflight = null);
    this.#inflight = work;
    return work;
  }

  async #catchUp(nowMs: number | undefined): Promise<ReadonlySet<string>> {
    for (;;) {
      const page = await this.#store.listArrivals(
        EQUIVOCATIONS_CHANNEL,
        this.#cursor,
        QUARANTINE_CATCHUP_PAGE_DELTAS,
      );
      for (const record of page.deltas) {
        const { ops } = JSON.parse(record.body) as { ops: Op[] };
        for (const op of ops) if (op.op === "set") this.note(op.key);
      }
      this.#cursor = page.cursor;
      if (!page.more) {
        if (nowMs !== undefined) this.#refreshedAtMs = nowMs;
        return this.#authors;
      }
    }
  }
}

const byStore = new WeakMap<RegionStore, Quarantine>();

/** The quarantine of `store` in this instance (one per store, shared by its ingest and views). */
export function quarantineOf(store: RegionStore): Quarantine {
  let quarantine = byStore.get(store);
  if (quarantine === undefined) byStore.set(store, quarantine = new Quarantine(store));
  return quarantine;
}
