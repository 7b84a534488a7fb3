/**
 * This instance's topic hub: it hands every topic message stored in the region to the matching
 * subscribers held here. Messages this instance stores itself (agent publishes, peer relays,
 * anti-entropy repairs) are handed over at once; those other instances of the region store are
 * read from the region log, polled while anyone subscribes. A subscriber may be offered a message
 * twice (both ways, or replay and live); its cursor delivers it once.
 */
import type { Delta } from "../protocol/delta.ts";
import type { RegionStore } from "../store/region_store.ts";
import { readLogAfter } from "../store/region_log.ts";
import { TOPIC_CHANNEL_PREFIX } from "../protocol/message_kinds.ts";
import type { Subscription } from "./subscription.ts";
import { subjectMatches } from "./subject.ts";
import { topicEventOf } from "./topic_event.ts";
import { PollChain } from "../views/poll_chain.ts";

/** Default pause between reads of the region log while there are subscribers, in ms. */
export const HUB_POLL_MS_DEFAULT = 50;
/** Region-log entries read per poll page (of each shard). */
const LOG_PAGE = 512;
/** Ids of messages this instance handed over itself, remembered so the log read skips them. */
const RECENT_IDS_MAX = 8_192;

export interface TopicHubOptions {
  readonly store: RegionStore;
  readonly pollMs?: number;
}

export class TopicHub {
  readonly #store: RegionStore;
  readonly #subscribers = new Set<Subscription>();
  /** The region-log position (per shard) read so far; null while nobody subscribes. */
  #logCursor: number[] | null = null;
  /** Reads the region log every period while anyone subscribes (src/views/poll_chain.ts). */
  readonly #chain: PollChain;
  readonly #recent = new Set<string>();

  constructor(options: TopicHubOptions) {
    this.#store = options.store;
    this.#chain = new PollChain(options.pollMs ?? HUB_POLL_MS_DEFAULT, async () => {
      if (this.#subscribers.size === 0) return false;
      await this.poll();
      return true;
    });
  }

  /** Subscribers held by this instance. */
  get size(): number {
    return this.#subscribers.size;
  }

  /**
   * Adds a subscriber. Resolves once every message stored from now on will be offered to it, so
   * a replay read after this misses nothing.
   */
  async add(subscription: Subscription): Promise<void> {
    if (this.#logCursor === null) {
      const heads = await this.#store.logHeads();
      this.#logCursor ??= heads;
    }
    this.#subscribers.add(subscription);
    this.#chain.ensure();
  }

  /**
   * Called by a subscriber's request as it starts to wait for events: keeps the hub's log poll
   * going from that request (an edge runtime stops the timers of a request that has answered).
   * Returns the function to call when the request stops waiting.
   */
  keepAlive(): () => void {
    return this.#chain.keepAlive();
  }

  remove(subscription: Subscription): void {
    this.#subscribers.delete(subscription);
    subscription.close();
    // The poll chain ends by itself at its next step; its timer may be another request's.
    if (this.#subscribers.size === 0) this.#logCursor = null;
  }

  /** Told of what this instance stored (a push, a relay, a repair): offers topic messages at once. */
  onStored(deltas: readonly Delta[]): void {
    if (this.#subscribers.size === 0) return;
    for (const delta of deltas) {
      if (delta.kind !== "topic") continue;
      this.#recent.add(delta.id);
      if (this.#recent.size > RECENT_IDS_MAX) {
        this.#recent.delete(this.#recent.values().next().value!);
      }
      const event = topicEventOf(delta);
      if (event !== null) { for (const s of this.#subscribers) s.offer(event); }
    }
  }

  /**
   * Reads the region log once now (tests; the timer does it otherwise), from the position as it
   * stands. Never shared: on workerd a read belongs to the request whose timer made it and never
   * ends once that request has answered, so a poll that waited for another would wait for ever.
   * Reads that overlap offer a message twice at most (a subscription's cursor delivers it once).
   */
  poll(): Promise<void> {
    return this.#readLog();
  }

  /** Stops polling and closes every subscriber. */
  close(): void {
    for (const s of [...this.#subscribers]) this.remove(s);
  }

  async #readLog(): Promise<void> {
    while (this.#logCursor !== null) {
      const page = await readLogAfter(this.#store, this.#logCursor, LOG_PAGE);
      const wanted = page.entries.filter((e) =>
        e.channel.startsWith(TOPIC_CHANNEL_PREFIX) && !this.#recent.has(e.id) &&
        this.#wants(e.channel)
      );
      const stored = await Promise.all(wanted.map((e) => this.#store.getDelta(e.channel, e.id)));
      for (const delta of stored) {
        const event = delta === null ? null : topicEventOf(delta);
        if (event !== null) { for (const s of this.#subscribers) s.offer(event); }
      }
      if (this.#logCursor === null) return; // everyone left meanwhile
      const at = this.#logCursor;
      this.#logCursor = page.position.map((n, shard) => Math.max(n, at[shard]));
      if (!page.more) return;
    }
  }

  #wants(channel: string): boolean {
    const topic = channel.slice(TOPIC_CHANNEL_PREFIX.length);
    for (const s of this.#subscribers) if (subjectMatches(s.subject, topic)) return true;
    return false;
  }
}
