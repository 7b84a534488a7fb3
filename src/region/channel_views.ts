/**
 * Channel views for a stateless edge instance. The store is the truth; this keeps a bounded
 * cache of folded channel states, each with the arrival cursor it reflects, and on every read
 * folds in only what arrived since. A cold instance rebuilds a channel from the store.
 *
 * The view rule (docs/protocol.md §9.6): a channel's view excludes every delta of an author for
 * whom the region's delta set holds a valid equivocation proof (in `_equivocations`). When no
 * quarantined author has deltas in the channel the full fold is the view; otherwise a filtered
 * fold is built and cached until the channel or the quarantine changes.
 */
import { ChannelState } from "../crdt/channel_state.ts";
import type { Delta } from "../protocol/delta.ts";
import { EQUIVOCATIONS_CHANNEL } from "../protocol/equivocation.ts";
import type { RegionStore, StoredDelta } from "../store/region_store.ts";
import { quarantineOf } from "./quarantine.ts";

/** Channels kept folded in memory per instance. */
export const VIEW_CACHE_CHANNELS_MAX = 256;
/** Deltas kept folded in memory per instance, over all cached channels. */
export const VIEW_CACHE_DELTAS_MAX = 500_000;
/** Deltas read from the store per page while catching a view up. */
export const VIEW_CATCHUP_PAGE_DELTAS = 1_000;

interface Cached {
  state: ChannelState;
  cursor: number;
  /** The view state without quarantined authors, for the quarantine version and cursor noted. */
  filtered?: { state: ChannelState; version: number; cursor: number };
}

export interface ViewRead {
  /** The state the view renders: without the deltas of quarantined authors. */
  readonly state: ChannelState;
  /** How many deltas this read folded in from the store. */
  readonly caughtUp: number;
}

export class ChannelViews {
  readonly #store: RegionStore;
  readonly #cache = new Map<string, Cached>();
  readonly #inflight = new Map<string, Promise<ViewRead>>();

  constructor(store: RegionStore) {
    this.#store = store;
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
      { state: new ChannelState(channel), cursor: 0 };
    let caughtUp = 0;
    for (;;) {
      const page = await this.#store.listArrivals(
        channel,
        cached.cursor,
        VIEW_CATCHUP_PAGE_DELTAS,
      );
      for (const record of page.deltas) {
        if (cached.state.apply(folded(record))) caughtUp++;
      }
      cached.cursor = page.cursor;
      if (!page.more) break;
    }
    this.#remember(channel, cached);
    return { state: await this.#visible(channel, cached), caughtUp };
  }

  async #visible(channel: string, cached: Cached): Promise<ChannelState> {
    if (channel === EQUIVOCATIONS_CHANNEL) return cached.state;
    const quarantine = quarantineOf(this.#store);
    const excluded = await quarantine.authors();
    if (excluded.size === 0) return cached.state;
    const f = cached.filtered;
    if (f !== undefined && f.version === quarantine.version && f.cursor === cached.cursor) {
      return f.state;
    }
    const state = cached.state.without(excluded);
    cached.filtered = { state, version: quarantine.version, cursor: cached.cursor };
    return state;
  }

  #remember(channel: string, cached: Cached): void {
    this.#cache.delete(channel); // re-insert: Map order is recency order
    this.#cache.set(channel, cached);
    let total = 0;
    for (const c of this.#cache.values()) total += c.state.size;
    for (const [name, c] of this.#cache) {
      if (
        this.#cache.size <= VIEW_CACHE_CHANNELS_MAX &&
        total <= VIEW_CACHE_DELTAS_MAX
      ) break;
      this.#cache.delete(name);
      total -= c.state.size;
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
