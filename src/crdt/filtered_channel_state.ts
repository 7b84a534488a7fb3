/**
 * A channel's fold without the deltas of excluded authors (quarantined ones, docs/protocol.md
 * §9.6), kept incrementally: a delta of an excluded author is never folded in, so it costs no
 * memory and no work. The excluded set only grows. The fold (`ChannelFold`) does not keep the
 * deltas, so it cannot take an author's deltas back out: when the excluded set grows by an author
 * who already has deltas folded, `exclude` says the fold is stale, and the caller folds the kept
 * deltas again from its source (the store). At any time a fold that is not stale equals the fold
 * of (deltas applied) minus (deltas of excluded authors), whatever the interleaving of `apply`
 * and `exclude`.
 *
 * It also counts what it left out — how many deltas and whose — so that a checkpoint of it
 * (`snapshot`) can be checked against the arrivals it covers and reused only under a quarantine
 * that leaves out the same authors' deltas (`restore`, then `exclude`).
 */
import { ChannelFold, type FoldedDelta } from "./channel_fold.ts";
import type { FoldSnapshot } from "./fold_snapshot.ts";

/** A filtered fold as plain JSON data: the fold, and what was left out of it. */
export interface FilteredSnapshot {
  readonly fold: FoldSnapshot;
  /** Excluded authors whose deltas were applied and left out. */
  readonly dropped: string[];
  /** How many deltas were left out. */
  readonly droppedDeltas: number;
}

export class FilteredChannelState {
  readonly #state: ChannelFold;
  readonly #excluded = new Set<string>();
  readonly #dropped = new Set<string>();
  #droppedDeltas = 0;

  constructor(channel: string, state?: ChannelFold) {
    this.#state = state ?? new ChannelFold(channel);
  }

  /**
   * The filtered fold `snapshot` describes, excluding the authors it left out. Throws a
   * `TypeError` when the snapshot is malformed.
   */
  static restore(channel: string, snapshot: FilteredSnapshot): FilteredChannelState {
    const { dropped, droppedDeltas } = snapshot;
    if (
      !Array.isArray(dropped) || !dropped.every((a) => typeof a === "string") ||
      !Number.isSafeInteger(droppedDeltas) || droppedDeltas < 0
    ) throw new TypeError("Cannot restore a filtered fold: bad dropped authors or count");
    const restored = new FilteredChannelState(channel, ChannelFold.restore(channel, snapshot.fold));
    for (const author of dropped) {
      if (restored.#state.hasAuthor(author)) {
        throw new TypeError(`Cannot restore a filtered fold that both holds and drops ${author}`);
      }
      restored.#excluded.add(author);
      restored.#dropped.add(author);
    }
    restored.#droppedDeltas = droppedDeltas;
    return restored;
  }

  /** The fold of the kept deltas: what the view renders. */
  get state(): ChannelFold {
    return this.#state;
  }

  /** How many deltas are folded (the kept ones only). */
  get size(): number {
    return this.#state.size;
  }

  /** How many deltas were applied: folded, or left out as an excluded author's. */
  get applied(): number {
    return this.#state.size + this.#droppedDeltas;
  }

  /** Excluded authors whose deltas were left out. */
  get dropped(): ReadonlySet<string> {
    return this.#dropped;
  }

  /** Whether `author`'s deltas are left out. */
  excludes(author: string): boolean {
    return this.#excluded.has(author);
  }

  /**
   * Folds `delta` in unless its author is excluded; each delta at most once. Returns false when
   * it was left out.
   */
  apply(delta: FoldedDelta): boolean {
    if (this.#excluded.has(delta.author)) {
      this.skip(delta.author);
      return false;
    }
    this.#state.apply(delta);
    return true;
  }

  /**
   * Counts a delta of `author`, an excluded author, as left out: what `apply` does with it,
   * without the delta itself (the caller need not parse it).
   */
  skip(author: string): void {
    if (!this.#excluded.has(author)) {
      throw new Error(`Cannot skip a delta of ${author}: not excluded`);
    }
    this.#dropped.add(author);
    this.#droppedDeltas++;
  }

  /**
   * Excludes every author of `authors` from now on (authors already excluded stay so). Returns
   * true when one of them has deltas folded: the fold is then stale and must be built again from
   * the deltas, under the grown excluded set.
   */
  exclude(authors: Iterable<string>): boolean {
    let stale = false;
    for (const author of authors) {
      if (this.#excluded.has(author)) continue;
      this.#excluded.add(author);
      if (this.#state.hasAuthor(author)) stale = true;
    }
    return stale;
  }

  /** The filtered fold as plain JSON data, for `FilteredChannelState.restore`. */
  snapshot(): FilteredSnapshot {
    return {
      fold: this.#state.snapshot(),
      dropped: [...this.#dropped],
      droppedDeltas: this.#droppedDeltas,
    };
  }
}
