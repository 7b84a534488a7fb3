/**
 * Channel views for a stateless edge instance. The store is the truth; this keeps a bounded
 * cache of folded channel states, each with the arrival cursor it reflects, and on every read
 * folds in only what arrived since. A cold instance rebuilds a channel from the store.
 *
 * The view rule (docs/protocol.md §9.6): a channel's view excludes every delta of an author for
 * whom the region's delta set holds a valid equivocation proof (in `_equivocations`). The cache
 * holds only that filtered fold: a quarantined author's deltas are skipped as they arrive, and
 * the fold is rebuilt once, from the deltas it holds, when the quarantine grows by an author who
 * has deltas in it. So a read after a write stays incremental whoever is quarantined, and the
 * cached deltas (bounded by `VIEW_CACHE_DELTAS_MAX`) are exactly the ones a view renders.
 */
import type { ChannelState } from "../crdt/channel_state.ts";
import { FilteredChannelState } from "../crdt/filtered_channel_state.ts";
import type { Delta } from "../protocol/delta.ts";
import { EQUIVOCATIONS_CHANNEL } from "../protocol/equivocation.ts";
import type { RegionStore, StoredDelta } from "../store/region_store.ts";
import { quarantineOf } from "../guard/quarantine.ts";

/** Channels kept folded in memory per instance. */
export const VIEW_CACHE_CHANNELS_MAX = 256;
/** Deltas kept folded in memory per instance, over all cached channels. */
export const VIEW_CACHE_DELTAS_MAX = 500_000;
/** Deltas read from the store per page while catching a view up. */
export const VIEW_CATCHUP_PAGE_DELTAS = 1_000;

interface Cached {
  /** The channel's deltas up to `cursor`, without those of the authors it was told to exclude. */
  readonly view: FilteredChannelState;
  cursor: number;
  /** The quarantine version `view` excludes; -1 before the first look. */
  quarantineVersion: number;
}

export interface ViewRead {
  /** The state the view renders: without the deltas of quarantined authors. */
  readonly state: ChannelState;
  /** How many deltas this read folded in from the store. */
  readonly caughtUp: number;
  /** How many held deltas this read folded again because the quarantine grew (usually 0). */
  readonly refolded: number;
}

export class ChannelViews {
  readonly #store: RegionStore;
  readonly #cache = new Map<string, Cached>();
  readonly #inflight = new Map<string, Promise<ViewRead>>();

  constructor(store: RegionStore) {
    this.#store = store;
  }

  /** Deltas held folded over all cached channels; at most `VIEW_CACHE_DELTAS_MAX` after a read. */
  get deltasHeld(): number {
    let total = 0;
    for (const c of this.#cache.values()) total += c.view.size;
    return total;
  }

  /** The channel's state, caught up with everything stored before the call. */
  read(channel: string): Promise<ViewRead> {
    // Readers of one channel share one catch-up; a read that starts after it still sees it.
    const running = this.#inflight.get(channel);
    if (running !== undefined) return running.then(() => this.read(channel));
    const work = this.#catchUp(channel).finally(() => this.#inflight.delete(channel));
    this.#inflight.set(channel, work);
    return work;
  }

  async #catchUp(channel: string): Promise<ViewRead> {
    const cached = this.#cache.get(channel) ??
      { view: new FilteredChannelState(channel), cursor: 0, quarantineVersion: -1 };
    let refolded = await this.#excludeQuarantined(channel, cached);
    let caughtUp = 0;
    for (;;) {
      const page = await this.#store.listArrivals(
        channel,
        cached.cursor,
        VIEW_CATCHUP_PAGE_DELTAS,
      );
      for (const record of page.deltas) {
        if (cached.view.excludes(record.author)) continue;
        if (cached.view.apply(folded(record))) caughtUp++;
      }
      cached.cursor = page.cursor;
      if (!page.more) break;
    }
    // The quarantine may have grown while the pages were read, by an equivocation another
    // instance stored: one whose second half is among the deltas just read is in the store's
    // list by now (written in the same atomic write), so read the quarantine again.
    if (caughtUp > 0 || this.#quarantineGrew(channel, cached)) {
      refolded += await this.#excludeQuarantined(channel, cached);
    }
    this.#remember(channel, cached);
    return { state: cached.view.state, caughtUp, refolded };
  }

  /** Catches the quarantine up and excludes its authors; returns how many deltas were refolded. */
  async #excludeQuarantined(channel: string, cached: Cached): Promise<number> {
    if (channel === EQUIVOCATIONS_CHANNEL) return 0; // the proofs themselves are never filtered
    const quarantine = quarantineOf(this.#store);
    const authors = await quarantine.authors();
    const version = quarantine.version; // read with `authors`, before any other await
    if (version === cached.quarantineVersion) return 0;
    cached.quarantineVersion = version;
    return cached.view.exclude(authors);
  }

  #quarantineGrew(channel: string, cached: Cached): boolean {
    return channel !== EQUIVOCATIONS_CHANNEL &&
      quarantineOf(this.#store).version !== cached.quarantineVersion;
  }

  #remember(channel: string, cached: Cached): void {
    this.#cache.delete(channel); // re-insert: Map order is recency order
    this.#cache.set(channel, cached);
    let total = this.deltasHeld;
    for (const [name, c] of this.#cache) {
      if (
        this.#cache.size <= VIEW_CACHE_CHANNELS_MAX &&
        total <= VIEW_CACHE_DELTAS_MAX
      ) break;
      this.#cache.delete(name);
      total -= c.view.size;
    }
  }
}

/** A stored record as the fold needs it. Stored bodies passed the schema when they were accepted. */
function folded(record: StoredDelta): Delta {
  return {
    ...JSON.parse(record.body),
    id: record.id,
    body: record.body,
    sig: record.sig,
  };
}
