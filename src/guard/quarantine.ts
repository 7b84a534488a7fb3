/**
 * The authors a region's delta set proves to have equivocated, from two sources that are both
 * functions of the delta set alone, so equal sets quarantine alike:
 * - the store's equivocations: every author of whom the region stores two deltas with one
 *   channel and seq (in any channel, system channels included; the store keeps both as
 *   evidence), and
 * - the keys of the `set` ops of the `_equivocations` channel (self-verifying proofs, checked at
 *   ingest; the channel admits no `del`, so the set only grows).
 * Kept per store per instance, caught up (one empty page each when nothing new arrived) on every
 * view read, and on ingest at most once per `QUARANTINE_REFRESH_MS` of the region clock, so a
 * push costs no extra store round trip. Equivocations found through this instance are noted at
 * once; one stored by another instance of the region is enforced at ingest within that period
 * (views exclude the author's deltas whatever was stored meanwhile).
 */
import { EQUIVOCATIONS_CHANNEL } from "../protocol/equivocation.ts";
import type { RegionStore } from "../store/region_store.ts";
import { ChannelFollower, EquivocationFollower } from "./channel_follower.ts";

/** Most ms of the region clock ingest relies on the cached set before reading the store again. */
export const QUARANTINE_REFRESH_MS = 1_000;

export class Quarantine {
  readonly #authors = new Set<string>();
  readonly #proofs: ChannelFollower;
  readonly #pairs: EquivocationFollower;
  #version = 0;

  constructor(store: RegionStore) {
    // Every delta stored in `_equivocations` passed the proof check: its set keys are authors.
    this.#proofs = new ChannelFollower(
      store,
      EQUIVOCATIONS_CHANNEL,
      QUARANTINE_REFRESH_MS,
      (key) => this.note(key),
      true, // noting an author is idempotent: each request catches up on its own (workerd)
    );
    this.#pairs = new EquivocationFollower(
      store,
      QUARANTINE_REFRESH_MS,
      (e) => this.note(e.author),
      true,
    );
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

  /** The quarantined authors as this instance knows them now, without reading the store. */
  get known(): ReadonlySet<string> {
    return this.#authors;
  }

  /**
   * Catches up to the store's marks (`RegionStore.changeMarks`, read after the caller's call
   * began): `proofs`, the arrivals of `_equivocations`, and `equivocations`. Reads only the lists
   * whose mark moved since the last such catch-up.
   */
  async catchUpTo(proofs: number, equivocations: number): Promise<ReadonlySet<string>> {
    await Promise.all([this.#proofs.refreshAt(proofs), this.#pairs.refreshAt(equivocations)]);
    return this.#authors;
  }

  /**
   * The quarantined authors, caught up with everything stored before the call; or, given the
   * region clock `nowMs`, the cached set when it was caught up less than `QUARANTINE_REFRESH_MS`
   * before.
   */
  async authors(nowMs?: number): Promise<ReadonlySet<string>> {
    await Promise.all([this.#proofs.refresh(nowMs), this.#pairs.refresh(nowMs)]);
    return this.#authors;
  }
}

const byStore = new WeakMap<RegionStore, Quarantine>();

/** The quarantine of `store` in this instance (one per store, shared by its ingest and views). */
export function quarantineOf(store: RegionStore): Quarantine {
  let quarantine = byStore.get(store);
  if (quarantine === undefined) byStore.set(store, quarantine = new Quarantine(store));
  return quarantine;
}
