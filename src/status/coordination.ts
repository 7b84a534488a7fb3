/**
 * The coordination figures of the status document: agents in the registry and topics, counted in
 * the store index up to a bound (a million cards are not counted every second), cached for a
 * while; subscribers and status streams, read from this instance's memory each time.
 */
import { TOPIC_CHANNEL_PREFIX } from "../protocol/message_kinds.ts";
import { CHANNELS_INDEX_ROOT } from "../views/channel_directory.ts";
import { ROOT as REGISTRY_ROOT } from "../registry/index_layout.ts";
import type { IndexKey, RegionStore } from "../store/region_store.ts";
import type { Coordination } from "./document.ts";

/** Most index entries counted per figure; beyond it the figure reads "at least" (`…More`). */
export const COORDINATION_COUNT_MAX = 5_000;
/** Index entries read per store call while counting. */
export const COORDINATION_PAGE_ENTRIES = 1_000;
/** How long counted figures are reused before they are counted again, in ms. */
export const COORDINATION_REFRESH_MS = 10_000;

export interface CoordinationOptions {
  readonly store: RegionStore;
  /** Topic subscribers this instance holds now. */
  readonly topicSubscribers: () => number;
  /** Status streams this instance holds now. */
  readonly statusStreams: () => number;
}

interface Counted {
  readonly atMs: number;
  readonly agents: number;
  readonly agentsMore: boolean;
  readonly topics: number;
  readonly topicsMore: boolean;
}

/**
 * Entries under `prefix` (after `start`, while `keep` holds for the key), up to
 * COORDINATION_COUNT_MAX: the count, and whether more exist.
 */
async function countIndex(
  store: RegionStore,
  prefix: IndexKey,
  start?: IndexKey,
  keep: (key: IndexKey) => boolean = () => true,
): Promise<{ count: number; more: boolean }> {
  let count = 0, after = start;
  while (count < COORDINATION_COUNT_MAX) {
    const limit = Math.min(COORDINATION_PAGE_ENTRIES, COORDINATION_COUNT_MAX - count);
    const page = await store.listIndex(prefix, { after, limit });
    for (const { key } of page.entries) {
      if (!keep(key)) return { count, more: false };
      count++;
    }
    if (!page.more || page.entries.length === 0) return { count, more: false };
    after = page.entries[page.entries.length - 1].key;
  }
  const next = await store.listIndex(prefix, { after, limit: 1 });
  return { count, more: next.entries.some((e) => keep(e.key)) };
}

export class CoordinationCounter {
  readonly #o: CoordinationOptions;
  #counted: Counted | null = null;
  #counting: Promise<Counted> | null = null;

  constructor(options: CoordinationOptions) {
    this.#o = options;
  }

  /** The figures at `nowMs`; throws what the store throws when a count is due and fails. */
  async figures(nowMs: number): Promise<Coordination> {
    let counted = this.#counted;
    if (counted === null || nowMs - counted.atMs >= COORDINATION_REFRESH_MS) {
      // One count at a time, shared by every caller meanwhile.
      this.#counting ??= this.#count(nowMs).finally(() => this.#counting = null);
      counted = this.#counted = await this.#counting;
    }
    return {
      agents: counted.agents,
      agentsMore: counted.agentsMore,
      topics: counted.topics,
      topicsMore: counted.topicsMore,
      topicSubscribers: this.#o.topicSubscribers(),
      statusStreams: this.#o.statusStreams(),
    };
  }

  async #count(nowMs: number): Promise<Counted> {
    const store = this.#o.store;
    const [agents, topics] = await Promise.all([
      countIndex(store, [REGISTRY_ROOT, "card"]),
      // The channel directory (one entry per channel, in name order): the `_topic:` run.
      countIndex(
        store,
        [CHANNELS_INDEX_ROOT],
        [CHANNELS_INDEX_ROOT, TOPIC_CHANNEL_PREFIX],
        (key) => key[1].startsWith(TOPIC_CHANNEL_PREFIX),
      ),
    ]);
    return {
      atMs: nowMs,
      agents: agents.count,
      agentsMore: agents.more,
      topics: topics.count,
      topicsMore: topics.more,
    };
  }
}
