/**
 * A channel's fold without the deltas of excluded authors (quarantined ones, docs/protocol.md
 * §9.6), kept incrementally: a delta of an excluded author is never folded in, so it costs no
 * memory and no work, and the fold is rebuilt only when the excluded set grows by an author who
 * already has deltas folded. The excluded set only grows, so at any time the state equals the fold
 * of (deltas applied) minus (deltas of excluded authors) — a function of those two sets alone,
 * whatever the interleaving of `apply` and `exclude`.
 */
import { ChannelState, type FoldedDelta } from "./channel_state.ts";

export class FilteredChannelState {
  #state: ChannelState;
  readonly #excluded = new Set<string>();

  constructor(channel: string) {
    this.#state = new ChannelState(channel);
  }

  /** The fold of the kept deltas: what the view renders. Replaced (not mutated) by a refold. */
  get state(): ChannelState {
    return this.#state;
  }

  /** How many deltas are folded (the kept ones only). */
  get size(): number {
    return this.#state.size;
  }

  /** Whether `author`'s deltas are left out. */
  excludes(author: string): boolean {
    return this.#excluded.has(author);
  }

  /**
   * Folds `delta` in unless its author is excluded. Returns false (and changes nothing) when it is
   * excluded or already held.
   */
  apply(delta: FoldedDelta): boolean {
    if (this.#excluded.has(delta.author)) return false;
    return this.#state.apply(delta);
  }

  /**
   * Excludes every author of `authors` from now on (authors already excluded stay so). When one
   * of them has deltas folded, refolds the kept deltas once. Returns how many deltas that refold
   * folded (0 when none was needed).
   */
  exclude(authors: Iterable<string>): number {
    let hit = false;
    for (const author of authors) {
      if (this.#excluded.has(author)) continue;
      this.#excluded.add(author);
      if (this.#state.hasAuthor(author)) hit = true;
    }
    if (!hit) return 0;
    this.#state = this.#state.without(this.#excluded);
    return this.#state.size;
  }
}
