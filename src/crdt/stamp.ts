/**
 * The total order of last-writer-wins: `(ts, lc, author, seq, op index)`, larger wins. `author`
 * compares as a plain JavaScript string (UTF-16 code units) so that every runtime orders alike.
 * Two different ops never share a stamp: (author, seq) names one delta per channel and the op
 * index one op inside it.
 */
export interface Stamp {
  readonly ts: number;
  readonly lc: number;
  readonly author: string;
  readonly seq: number;
  readonly op: number;
}

/** Negative when `a` loses to `b`, positive when it wins, 0 for the same op. */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  if (a.lc !== b.lc) return a.lc - b.lc;
  if (a.author !== b.author) return a.author < b.author ? -1 : 1;
  if (a.seq !== b.seq) return a.seq - b.seq;
  return a.op - b.op;
}
