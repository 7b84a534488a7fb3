/**
 * The total order of last-writer-wins: `(ts, lc, author, seq, op index, delta id)`, larger wins.
 * `author` and `id` compare as plain JavaScript strings (UTF-16 code units) so that every runtime
 * orders alike. The delta id only decides between two deltas of one author with the same seq —
 * an equivocation — so that even then the fold does not depend on arrival order.
 */
export interface Stamp {
  readonly ts: number;
  readonly lc: number;
  readonly author: string;
  readonly seq: number;
  readonly op: number;
  readonly id: string;
}

/** Negative when `a` loses to `b`, positive when it wins, 0 for the same op. */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  if (a.lc !== b.lc) return a.lc - b.lc;
  if (a.author !== b.author) return a.author < b.author ? -1 : 1;
  if (a.seq !== b.seq) return a.seq - b.seq;
  if (a.op !== b.op) return a.op - b.op;
  return a.id === b.id ? 0 : a.id < b.id ? -1 : 1;
}
