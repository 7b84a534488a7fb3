/**
 * Per-author progress in a channel: the highest contiguous seq (1..n all present) and the known
 * gaps above it, as inclusive ranges.
 */
export class AuthorHeads {
  readonly #contiguous = new Map<string, number>();
  /** Seqs present above the contiguous head. */
  readonly #above = new Map<string, Set<number>>();
  #aboveSeqs = 0;

  /** Authors plus seqs held above their heads: what the heads cost in memory. */
  get entries(): number {
    return this.#contiguous.size + this.#aboveSeqs;
  }

  /** Whether any seq of `author` is present. */
  has(author: string): boolean {
    return this.#contiguous.has(author);
  }

  /** Records that `author`'s delta `seq` is present. Idempotent. */
  add(author: string, seq: number): void {
    let head = this.#contiguous.get(author) ?? 0;
    if (seq <= head) return;
    let above = this.#above.get(author);
    if (seq !== head + 1) {
      if (above === undefined) this.#above.set(author, above = new Set());
      if (!above.has(seq)) this.#aboveSeqs++;
      above.add(seq);
      if (!this.#contiguous.has(author)) this.#contiguous.set(author, 0);
      return;
    }
    head = seq;
    while (above?.delete(head + 1)) {
      head++;
      this.#aboveSeqs--;
    }
    if (above?.size === 0) this.#above.delete(author);
    this.#contiguous.set(author, head);
  }

  /**
   * Puts back what `held` listed for `author`: head `contiguous` and the seqs present above it.
   * Only into a fresh `AuthorHeads`, once per author (a checkpoint being restored).
   */
  restore(author: string, contiguous: number, above: readonly number[]): void {
    if (this.#contiguous.has(author) || !Number.isSafeInteger(contiguous) || contiguous < 0) {
      throw new TypeError(`Cannot restore the head of ${author} to ${contiguous}`);
    }
    this.#contiguous.set(author, contiguous);
    for (const seq of above) {
      if (!Number.isSafeInteger(seq) || seq <= contiguous + 1) {
        throw new TypeError(`Cannot restore seq ${seq} above head ${contiguous} of ${author}`);
      }
      this.add(author, seq);
    }
  }

  /** Every author: `[author, highest contiguous seq, seqs present above it]`. */
  *held(): IterableIterator<[string, number, number[]]> {
    for (const [author, head] of this.#contiguous) {
      yield [author, head, [...this.#above.get(author) ?? []]];
    }
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
