/**
 * A channel's replicated state: the grow-only set of its deltas, and the view folded from it.
 * Two states holding the same delta set render byte-identical views whatever the order,
 * duplication or batching of arrival. `apply` is incremental and idempotent by delta id; `merge`
 * is set union. Unlike `ChannelFold`, which it extends, it keeps the deltas themselves.
 */
import { ChannelFold, type FoldedDelta } from "./channel_fold.ts";

export type { ChannelView, FoldedDelta } from "./channel_fold.ts";

export class ChannelState extends ChannelFold {
  readonly #deltas = new Map<string, FoldedDelta>();

  has(id: string): boolean {
    return this.#deltas.has(id);
  }

  /** The deltas held, in the order they were first applied. */
  deltas(): IterableIterator<FoldedDelta> {
    return this.#deltas.values();
  }

  /** Folds one delta in. Returns false (and changes nothing) when it is already held. */
  override apply(delta: FoldedDelta): boolean {
    if (delta.channel === this.channel && this.#deltas.has(delta.id)) return false;
    super.apply(delta); // throws, changing nothing, on another channel or a malformed id
    this.#deltas.set(delta.id, delta);
    return true;
  }

  /**
   * The state without the deltas of `excluded` authors (quarantined ones): this state itself when
   * it holds none of theirs, else a new fold of the rest. Deterministic in the delta set.
   */
  without(excluded: ReadonlySet<string>): ChannelState {
    let hit = false;
    for (const author of excluded) if (this.hasAuthor(author)) hit = true;
    if (!hit) return this;
    const kept = new ChannelState(this.channel);
    for (const delta of this.#deltas.values()) {
      if (!excluded.has(delta.author)) kept.apply(delta);
    }
    return kept;
  }

  /** Set union: a new state holding the deltas of both. */
  static merge(a: ChannelState, b: ChannelState): ChannelState {
    const merged = new ChannelState(a.channel);
    for (const delta of a.deltas()) merged.apply(delta);
    for (const delta of b.deltas()) merged.apply(delta);
    return merged;
  }
}
