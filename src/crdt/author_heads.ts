/**
 * Per-author progress in a channel: the highest contiguous seq (1..n all present) and the known
 * gaps above it, as inclusive ranges.
 */
export class AuthorHeads {
  readonly #contiguous = new Map<string, number>();
  /** Seqs present above the contiguous head. */
  readonly #above = new Map<string, Set<number>>();

  /** Records that `author`'s delta `seq` is present. Idempotent. */
  add(author: string, seq: number): void {
    let head = this.#contiguous.get(author) ?? 0;
    if (seq <= head) return;
    let above = this.#above.get(author);
    if (seq !== head + 1) {
      if (above === undefined) this.#above.set(author, above = new Set());
      above.add(seq);
      if (!this.#contiguous.has(author)) this.#contiguous.set(author, 0);
      return;
    }
    head = seq;
    while (above?.delete(head + 1)) head++;
    if (above?.size === 0) this.#above.delete(author);
    this.#contiguous.set(author, head);
  }

  /** Highest contiguous seq per author, sorted by author. */
  heads(): [string, number][] {
    return [...this.#contiguous].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }

  /** Missing seq ranges `[from, to]` per author that has gaps, sorted by author. */
  gaps(): [string, [number, number][]][] {
    const out: [string, [number, number][]][] = [];
    for (const [author, above] of this.#above) {
      const seqs = [...above].sort((a, b) => a - b);
      const ranges: [number, number][] = [];
      let expected = (this.#contiguous.get(author) ?? 0) + 1;
      for (const seq of seqs) {
        if (seq > expected) ranges.push([expected, seq - 1]);
        expected = seq + 1;
      }
      out.push([author, ranges]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }
}
