/**
 * Hostile reconciliation servers for frame version 2, for the tests and bench/sync_dos.ts: they
 * answer every asked sub-cell as differing, with a random cell far from the client's, so an
 * honest client would split each of them again — the growth its budgets must stop.
 */
import {
  type CellAnswer,
  type CellEntry,
  decodeCellRequest,
  encodeCellResponse,
  SYNC_FRAME_BYTES_MAX,
} from "../../src/sync/range_reconcile.ts";

/** Answers at most `answerMax` ranges a round (deferring the rest), as many as fit in a frame. */
export function cellLiar(next: () => number, answerMax = Infinity) {
  const byte = () => (next() * 256) | 0;
  return (request: Uint8Array): Uint8Array => {
    const asked = decodeCellRequest(request).ranges;
    const answers: CellAnswer[] = [];
    let bytes = 16;
    for (const range of asked) {
      const n = range.fingerprints.length;
      const size = ((n + 7) >> 3) + n * 30;
      if (answers.length >= answerMax || bytes + size > SYNC_FRAME_BYTES_MAX) break;
      const differ = new Uint8Array((n + 7) >> 3).fill(255);
      if ((n & 7) !== 0) differ[differ.length - 1] = (1 << (n & 7)) - 1;
      const entries: CellEntry[] = Array.from({ length: n }, () => ({
        kind: "cell",
        count: 1_000 + ((next() * 1_000_000) | 0),
        sum16: Uint8Array.from({ length: 16 }, byte),
        check: Uint32Array.of((next() * 2 ** 32) >>> 0, (next() * 2 ** 32) >>> 0),
      }));
      answers.push({ differ, entries });
      bytes += size;
    }
    return encodeCellResponse({ deferred: asked.length - answers.length, answers }, asked);
  };
}
