/**
 * Observed-remove set, add wins. Every add carries a unique tag (`<delta id>:<op index>`); a
 * remove names the tags it observed and kills only those, so an add the remover had not seen
 * survives. Removed tags are remembered even before their add arrives, which keeps the result
 * independent of delivery order.
 */
export class OrSet {
  readonly #added = new Map<string, Set<string>>();
  readonly #removed = new Map<string, Set<string>>();

  add(elem: string, tag: string): void {
    bucket(this.#added, elem).add(tag);
  }

  remove(elem: string, tags: readonly string[]): void {
    const removed = bucket(this.#removed, elem);
    for (const tag of tags) removed.add(tag);
  }

  has(elem: string): boolean {
    const tags = this.#added.get(elem);
    if (tags === undefined) return false;
    const removed = this.#removed.get(elem);
    if (removed === undefined) return tags.size > 0;
    for (const tag of tags) if (!removed.has(tag)) return true;
    return false;
  }

  /** Live tags of `elem`: what a remover should name to remove it now. Sorted. */
  liveTags(elem: string): string[] {
    const removed = this.#removed.get(elem);
    return [...(this.#added.get(elem) ?? [])].filter((t) => !removed?.has(t))
      .sort();
  }

  /** Live elements, sorted by JavaScript string order. */
  elements(): string[] {
    const live: string[] = [];
    for (const elem of this.#added.keys()) if (this.has(elem)) live.push(elem);
    return live.sort();
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
