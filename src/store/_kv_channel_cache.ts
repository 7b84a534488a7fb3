/**
 * What one Deno KV store instance knows about a channel as of a versionstamp of its counter:
 * the last arrival number and the heads of the authors it has seen. Every write in a channel
 * bumps the counter, so while the counter still has this versionstamp the entry is exact; a
 * commit checks that versionstamp, and a failed check drops the entry. With a warm entry, a push
 * of fresh seqs needs no reads at all before its commit.
 */
import type { AuthorHead } from "./region_store.ts";

/** Channels whose state one instance keeps. */
export const KV_CACHED_CHANNELS_MAX = 1_024;
/** Author heads kept per cached channel. */
export const KV_CACHED_HEADS_PER_CHANNEL_MAX = 4_096;

export interface CachedChannel {
  /** Versionstamp of the channel counter this entry is exact at (null: no counter yet). */
  versionstamp: string | null;
  /** Last arrival number at that versionstamp. */
  last: number;
  /** Heads by author; null records that the author has nothing stored in the channel. */
  readonly heads: Map<string, AuthorHead | null>;
}

export class KvChannelCache {
  readonly #channels = new Map<string, CachedChannel>();

  get(channel: string): CachedChannel | undefined {
    const entry = this.#channels.get(channel);
    if (entry !== undefined) { // Map order is recency order
      this.#channels.delete(channel);
      this.#channels.set(channel, entry);
    }
    return entry;
  }

  set(channel: string, entry: CachedChannel): void {
    this.#channels.delete(channel);
    this.#channels.set(channel, entry);
    for (const oldest of this.#channels.keys()) {
      if (this.#channels.size <= KV_CACHED_CHANNELS_MAX) break;
      this.#channels.delete(oldest);
    }
  }

  /** Records a head; forgets the oldest heads of the channel beyond the bound. */
  setHead(entry: CachedChannel, author: string, head: AuthorHead | null): void {
    entry.heads.delete(author);
    entry.heads.set(author, head);
    for (const oldest of entry.heads.keys()) {
      if (entry.heads.size <= KV_CACHED_HEADS_PER_CHANNEL_MAX) break;
      entry.heads.delete(oldest);
    }
  }

  drop(channel: string): void {
    this.#channels.delete(channel);
  }
}
