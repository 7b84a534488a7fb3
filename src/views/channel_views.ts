/**
 * Channel views for a stateless edge instance. The store is the truth; this keeps a bounded
 * cache of folded channel states, each with the arrival cursor it reflects, and on every read
 * folds in only what arrived since. A cold instance starts a channel from its checkpoint in the
 * store (`view_checkpoint.ts`), verified, and folds the arrivals after it; without a usable one,
 * from the channel's first arrival.
 *
 * The cached folds (`ChannelFold`) hold the state a view is made of, never the deltas, so their
 * memory is the state's and not the history's; the cache is bounded in state entries.
 *
 * The view rule (docs/protocol.md §9.6): a channel's view excludes every delta of an author for
 * whom the region's delta set holds a valid equivocation proof. The cache holds only that
 * filtered fold: a quarantined author's deltas are skipped as they arrive, and when the
 * quarantine grows by an author who has deltas in the fold, the fold is built again (from the
 * checkpoint if that author has nothing in it, else from the first arrival), once.
 */
import type { ChannelFold, FoldedDelta } from "../crdt/channel_fold.ts";
import { FilteredChannelState } from "../crdt/filtered_channel_state.ts";
import { REGISTRY_CHANNEL } from "../protocol/agent_card.ts";
import { EQUIVOCATIONS_CHANNEL } from "../protocol/equivocation.ts";
import { TOPIC_CHANNEL_PREFIX } from "../protocol/message_kinds.ts";
import type { RegionStore, StoredDelta } from "../store/region_store.ts";
import { quarantineOf } from "../guard/quarantine.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";
import { checkpointText, readCheckpoint } from "./view_checkpoint.ts";
import { channelWatchOf } from "./channel_watch.ts";

/** Channels kept folded in memory per instance. */
export const VIEW_CACHE_CHANNELS_MAX = 256;
/**
 * State entries (`ChannelFold.entries`: map keys, set tags, counters, authors) kept folded in
 * memory per instance, over all cached channels: a few hundred MB at most.
 */
export const VIEW_CACHE_ENTRIES_MAX = 1_000_000;
/** Deltas read from the store per page while catching a view up. */
export const VIEW_CATCHUP_PAGE_DELTAS = 1_000;

interface Cached {
  /** The channel's deltas up to `cursor`, without those of the authors it was told to exclude. */
  readonly view: FilteredChannelState;
  cursor: number;
  /** The quarantine version `view` excludes. */
  quarantineVersion: number;
}

/** Where a read found the fold it caught up (`memory`: deltas just stored here, see `read`). */
export type ViewSource = "cache" | "checkpoint" | "store" | "memory";

export interface ViewRead {
  /** The state the view renders: without the deltas of quarantined authors. */
  readonly state: ChannelFold;
  /** How many arrivals this read took from the store (folded, or left out as quarantined). */
  readonly caughtUp: number;
  /** Where the fold started: the cache, a checkpoint, or the channel's first arrival. */
  readonly source: ViewSource;
  /** True when the quarantine grew by an author folded in, and the fold was built again. */
  readonly rebuilt: boolean;
}

/** A consistent copy of a channel's fold, for a checkpoint. */
export interface ViewCheckpoint {
  /** The checkpoint text (`checkpointText`). */
  readonly text: string;
  readonly cursor: number;
  readonly deltas: number;
  readonly fingerprint: string;
}

/**
 * Why `channel` has no view (nothing reads or checkpoints its fold), or null when it has one: a
 * topic is read as messages; `_registry` through the discovery index (its fold is every card,
 * over a gigabyte of memory at a million agents).
 */
export function viewlessReason(channel: string): string | null {
  if (channel.startsWith(TOPIC_CHANNEL_PREFIX)) {
    return "A topic has no view: read its messages with GET /v1/topics/{topic}/messages";
  }
  if (channel === REGISTRY_CHANNEL) {
    return "The registry has no view: discover agents with GET /v1/agents, read a card with " +
      "GET /v1/agents/{id}, or page its deltas with GET /v1/channels/_registry/deltas";
  }
  return null;
}

export interface ChannelViewsOptions {
  /** Start cold channels from their checkpoints. Default true. */
  readonly checkpoints?: boolean;
  /** Counts checkpoints loaded and turned down (`mesh.view.checkpoints`). Default: none. */
  readonly telemetry?: Telemetry;
  /** Attributes of those counts. */
  readonly base?: Record<string, string>;
}

export class ChannelViews {
  readonly #store: RegionStore;
  readonly #options: ChannelViewsOptions;
  readonly #cache = new Map<string, Cached>();
  readonly #inflight = new Map<string, Promise<unknown>>();

  constructor(store: RegionStore, options: ChannelViewsOptions = {}) {
    this.#store = store;
    this.#options = options;
  }

  /** State entries held over all cached channels; at most `VIEW_CACHE_ENTRIES_MAX` after a read. */
  get entriesHeld(): number {
    let total = 0;
    for (const c of this.#cache.values()) total += c.view.state.entries;
    return total;
  }

  /**
   * The channel's state, caught up with everything stored before the call. A read woken by deltas
   * this instance stored (`woken`, `ChannelWatch.arrived`) reads the marks all the same (an
   * equivocation another instance stored before them must exclude its author, §9.6), but folds
   * the arrivals up to the mark that the watch kept from memory instead of listing them (source
   * `memory` when all were).
   */
  read(channel: string, woken = false): Promise<ViewRead> {
    return this.#exclusive(channel, async () => (await this.#catchUp(channel, woken)).read);
  }

  /**
   * The channel's fold, caught up, as checkpoint text with what its pointer says, copied while no
   * other read of the channel runs.
   */
  checkpoint(channel: string): Promise<ViewCheckpoint> {
    return this.#exclusive(channel, async () => {
      const { read, cached } = await this.#catchUp(channel);
      return {
        text: checkpointText(channel, cached.view, cached.cursor),
        cursor: cached.cursor,
        deltas: read.state.size,
        fingerprint: read.state.fingerprint(),
      };
    });
  }

  /** Runs `work` once no other work on `channel` runs; later callers wait for it, then run. */
  #exclusive<T>(channel: string, work: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(channel);
    if (running !== undefined) {
      return running.then(
        () => this.#exclusive(channel, work),
        () => this.#exclusive(channel, work),
      );
    }
    const started = work().finally(() => this.#inflight.delete(channel));
    this.#inflight.set(channel, started);
    return started;
  }

  async #catchUp(channel: string, woken = false): Promise<{ read: ViewRead; cached: Cached }> {
    let cached = this.#cache.get(channel);
    let source: ViewSource = "cache";
    let rebuilt = false;
    let caughtUp = 0;
    // One store read says how far the channel goes and whether the quarantine moved; the
    // quarantine is caught up to it first, so every author proved to equivocate by a delta at or
    // below `mark` is known before that delta is folded (both were stored in one write).
    const mark = await this.#marks(channel);
    let listed = false;
    for (;;) {
      if (cached === undefined) ({ cached, source } = await this.#open(channel));
      else if (this.#excludeKnown(channel, cached)) {
        cached = undefined; // an author folded in is quarantined now: build the fold again
        rebuilt = true;
        continue;
      }
      const taken = await this.#foldArrivals(channel, cached, mark, woken);
      caughtUp += taken.taken;
      listed ||= taken.listed;
      // This instance may have noted an equivocation meanwhile (in memory, no store read).
      if (!this.#excludeKnown(channel, cached)) break;
      cached = undefined;
      rebuilt = true;
    }
    this.#remember(channel, cached);
    if (source === "cache" && caughtUp > 0 && !listed) source = "memory";
    return { read: { state: cached.view.state, caughtUp, source, rebuilt }, cached };
  }

  /** The channel's last arrival, with the quarantine caught up to the same instant. */
  async #marks(channel: string): Promise<number> {
    if (channel === EQUIVOCATIONS_CHANNEL) return (await this.#store.arrivalCounts([channel]))[0];
    const marks = await this.#store.changeMarks([channel, EQUIVOCATIONS_CHANNEL]);
    await quarantineOf(this.#store).catchUpTo(marks.arrivals[1], marks.equivocations);
    return marks.arrivals[0];
  }

  /**
   * A fold of `channel` to start from, excluding the quarantine: its checkpoint when one is
   * usable, else an empty one at arrival 0.
   */
  async #open(channel: string): Promise<{ cached: Cached; source: ViewSource }> {
    // The checkpoint first, the quarantine after: the quarantine read then holds every author
    // the checkpoint's writer excluded (it only grows).
    const loaded = this.#options.checkpoints === false
      ? null
      : await readCheckpoint(this.#store, channel);
    const { authors, version } = await this.#quarantine(channel);
    if (loaded?.outcome === "loaded") {
      const { view, cursor } = loaded;
      const usable = [...view.dropped].every((a) => authors.has(a)) && !view.exclude(authors);
      this.#count(usable ? "loaded" : "stale");
      if (usable) {
        return { cached: { view, cursor, quarantineVersion: version }, source: "checkpoint" };
      }
    } else if (loaded?.outcome === "rejected") {
      this.#count("rejected");
    }
    const view = new FilteredChannelState(channel);
    view.exclude(authors);
    return { cached: { view, cursor: 0, quarantineVersion: version }, source: "store" };
  }

  /**
   * Folds in the arrivals after the cursor up to `mark`: first, for a woken read, those the watch
   * kept (`ChannelWatch.arrived`), then the rest from the store. How many; whether it listed.
   */
  async #foldArrivals(channel: string, cached: Cached, mark: number, woken: boolean) {
    let taken = 0;
    const fold = (record: StoredDelta) => {
      if (cached.view.excludes(record.author)) cached.view.skip(record.author);
      else cached.view.apply(folded(record));
    };
    if (woken) {
      const kept = new Map(channelWatchOf(this.#store).arrived(channel).map((d) => [d.arrival, d]));
      for (let next = kept.get(cached.cursor + 1); next && next.arrival <= mark;) {
        fold(next);
        cached.cursor = next.arrival;
        taken++;
        next = kept.get(cached.cursor + 1);
      }
    }
    const listed = cached.cursor < mark;
    while (cached.cursor < mark) {
      const limit = Math.min(VIEW_CATCHUP_PAGE_DELTAS, mark - cached.cursor);
      const page = await this.#store.listArrivals(channel, cached.cursor, limit);
      page.deltas.forEach(fold);
      taken += page.deltas.length;
      if (page.deltas.length === 0) break; // never expected (one write sets both): do not spin
      cached.cursor = page.cursor;
    }
    return { taken, listed };
  }

  async #quarantine(channel: string): Promise<{ authors: ReadonlySet<string>; version: number }> {
    // The proofs themselves are never filtered.
    if (channel === EQUIVOCATIONS_CHANNEL) return { authors: new Set(), version: 0 };
    const quarantine = quarantineOf(this.#store);
    const authors = await quarantine.authors();
    return { authors, version: quarantine.version }; // read with `authors`, before any await
  }

  /** Excludes the quarantine as this instance knows it now; true when the fold is now stale. */
  #excludeKnown(channel: string, cached: Cached): boolean {
    if (channel === EQUIVOCATIONS_CHANNEL) return false;
    const quarantine = quarantineOf(this.#store);
    if (quarantine.version === cached.quarantineVersion) return false;
    cached.quarantineVersion = quarantine.version;
    return cached.view.exclude(quarantine.known);
  }

  #count(outcome: string): void {
    this.#options.telemetry?.viewCheckpoints.add(1, {
      ...this.#options.base,
      [names.ATTR_VIEW_CHECKPOINT_OUTCOME]: outcome,
    });
  }

  #remember(channel: string, cached: Cached): void {
    this.#cache.delete(channel); // re-insert: Map order is recency order
    this.#cache.set(channel, cached);
    let total = this.entriesHeld;
    for (const [name, c] of this.#cache) {
      if (this.#cache.size <= VIEW_CACHE_CHANNELS_MAX && total <= VIEW_CACHE_ENTRIES_MAX) break;
      this.#cache.delete(name);
      total -= c.view.state.entries;
    }
  }
}

/** A stored record as the fold needs it. Stored bodies passed the schema when they were accepted. */
function folded(record: StoredDelta): FoldedDelta {
  return { ...JSON.parse(record.body), id: record.id };
}
