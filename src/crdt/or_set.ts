/**
 * Observed-remove set, add wins. Every add carries a unique tag (`<delta id>:<op index>`); a
 * remove names the tags it observed and kills only those, so an add the remover had not seen
 * survives. Removed tags are remembered even before their add arrives, which keeps the result
 * independent of delivery order.
 *
 * Each add must be applied at most once (its tag names its delta, and the fold applies each
 * delta once). That lets the set forget a tag as soon as both its add and a remove naming it are
 * in: the tag is dead for ever, so neither side is kept. What stays is the live tags and the
 * removed tags whose add had not arrived when the remove did (or whose add was already gone: a
 * second remove of one tag), so a set whose adds are removed again does not grow with history.
 */
export class OrSet {
  /** Live tags per element: added, and not named by any remove seen. */
  readonly #added = new Map<string, Set<string>>();
  /** Tags named by a remove whose add was not held when the remove came. */
  readonly #removed = new Map<string, Set<string>>();
  #tags = 0;

  /** Tags held, live and removed: what the set costs in memory. */
  get tags(): number {
    return this.#tags;
  }

  add(elem: string, tag: string): void {
    const removed = this.#removed.get(elem);
    if (removed?.delete(tag)) {
      this.#tags--;
      if (removed.size === 0) this.#removed.delete(elem);
      return;
    }
    const added = bucket(this.#added, elem);
    if (!added.has(tag)) this.#tags++;
    added.add(tag);
  }

  remove(elem: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const added = this.#added.get(elem);
      if (added?.delete(tag)) {
        this.#tags--;
        if (added.size === 0) this.#added.delete(elem);
        continue;
      }
      const removed = bucket(this.#removed, elem);
      if (!removed.has(tag)) this.#tags++;
      removed.add(tag);
    }
  }

  has(elem: string): boolean {
    return this.#added.has(elem);
  }

  /** Live tags of `elem`: what a remover should name to remove it now. Sorted. */
  liveTags(elem: string): string[] {
    return [...(this.#added.get(elem) ?? [])].sort();
  }

  /** Live elements, sorted by JavaScript string order. */
  elements(): string[] {
    return [...this.#added.keys()].sort();
  }

  /** Every element with tags held: `[elem, live tags, removed tags not yet matched]`. */
  *held(): IterableIterator<[string, string[], string[]]> {
    for (const elem of new Set([...this.#added.keys(), ...this.#removed.keys()])) {
      yield [elem, [...this.#added.get(elem) ?? []], [...this.#removed.get(elem) ?? []]];
    }
  }
}

function bucket(map: Map<string, Set<string>>, key: string): Set<string> {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}
