/**
 * The server side of cell reconciliation (frame version 2, `_cell_frame.ts`): answers one
 * request against the server's trie, statelessly. Private to `src/sync/`; `respond()` in
 * `range_reconcile.ts` calls it for version-2 frames.
 */
import { ID_BYTES, type IdTrie } from "./id_trie.ts";
import {
  bitKey,
  type Cell,
  CELL_ID_BYTES,
  cellOf,
  inPrefix,
  saltWords,
  subCellFingerprint,
  subCells,
  sum16,
} from "./_cell.ts";
import {
  type CellAnswer,
  type CellEntry,
  type CellRange,
  decodeCellRequest,
  encodeCellResponse,
  presentCells,
  subCellPath,
  SYNC_ANSWER_BYTES_MAX,
} from "./_cell_frame.ts";
import { SyncFrameError } from "./_range_frame.ts";

/** Header bytes of a response: version and two varints of at most 3 bytes. */
const RESPONSE_HEADER_BYTES_MAX = 1 + 3 + 3;
/** Smallest usable version-2 response limit: the largest answer to one range must fit. */
export const SYNC_CELL_RESPONSE_BYTES_MIN = RESPONSE_HEADER_BYTES_MAX + SYNC_ANSWER_BYTES_MAX;

/**
 * Answers a version-2 request: for each range, in order, which asked sub-cells differ from the
 * client's fingerprints and, for each, the server's ids (when it holds at most the range's
 * listMax there) or its cell. Ranges that do not fit in `frameBytesMax` are deferred. Throws
 * `SyncFrameError` for a request that is not valid. Work: one cell per asked sub-cell, plus at
 * most listMax ids each; the disjointness rule keeps deep cells from summing an id twice.
 */
export function respondCells<T>(
  trie: IdTrie<T>,
  bytes: Uint8Array,
  frameBytesMax: number,
): Uint8Array {
  const request = decodeCellRequest(bytes);
  assertDisjointCells(request.ranges);
  const salt = saltWords(request.salt);
  const answers: CellAnswer[] = [];
  let size = RESPONSE_HEADER_BYTES_MAX;
  for (const range of request.ranges) {
    const answer = answerRange(trie, range, salt);
    if (size + answer.bytes > frameBytesMax) break;
    answers.push(answer.answer);
    size += answer.bytes;
  }
  const deferred = request.ranges.length - answers.length;
  return encodeCellResponse({ deferred, answers }, request.ranges);
}

function answerRange<T>(trie: IdTrie<T>, range: CellRange, salt: Uint32Array) {
  const cells = presentCells(range);
  const differ = new Uint8Array((cells.length + 7) >> 3);
  const entries: CellEntry[] = [];
  const cellBits = range.bits + range.split;
  const mine = subCells(trie, range.path, range.bits, range.split, cells);
  let bytes = differ.length;
  cells.forEach((j, k) => {
    if (subCellFingerprint(salt, mine, k) === range.fingerprints[k]) return;
    differ[k >> 3] |= 1 << (k & 7);
    const entry = entryOf(trie, cellOf(mine, k), subCellPath(range, j), cellBits, range);
    entries.push(entry);
    bytes += entryBytes(entry, cellBits);
  });
  return { answer: { differ, entries }, bytes };
}

function entryOf<T>(
  trie: IdTrie<T>,
  cell: Cell,
  path: Uint8Array,
  cellBits: number,
  range: CellRange,
): CellEntry {
  if (cell.count > range.listMax) {
    return { kind: "cell", count: cell.count, sum16: sum16(cell), check: cell.check.slice() };
  }
  const ids = idsUnder(trie, path, cellBits);
  const wide = range.wide || cellBits >= 8 * CELL_ID_BYTES || sharesPrefix(ids);
  const width = wide ? ID_BYTES : CELL_ID_BYTES;
  return { kind: "ids", width, ids: wide ? ids : ids.map((id) => id.slice(0, CELL_ID_BYTES)) };
}

/** The ids under a bit prefix, ascending, read from the 1..8 nibble ranges it spans. */
export function idsUnder<T>(trie: IdTrie<T>, path: Uint8Array, bits: number): Uint8Array[] {
  const whole = bits >> 2, rest = bits & 3;
  const nibbles = new Uint8Array(whole + (rest === 0 ? 0 : 1));
  for (let i = 0; i < whole; i++) {
    nibbles[i] = (i & 1) === 0 ? path[i >> 1] >> 4 : path[i >> 1] & 15;
  }
  if (rest === 0) return trie.ids(nibbles);
  const out: Uint8Array[] = [];
  const nibble = (whole & 1) === 0 ? path[whole >> 1] >> 4 : path[whole >> 1] & 15;
  const first = (nibble >> (4 - rest)) << (4 - rest);
  for (let c = first; c < first + (1 << (4 - rest)); c++) {
    nibbles[whole] = c;
    if (trie.count(nibbles) > 0) out.push(...trie.ids(nibbles));
  }
  return out.filter((id) => inPrefix(id, path, bits));
}

function sharesPrefix(ids: readonly Uint8Array[]): boolean {
  for (let i = 1; i < ids.length; i++) {
    let same = true;
    for (let k = 0; k < CELL_ID_BYTES && same; k++) same = ids[i - 1][k] === ids[i][k];
    if (same) return true;
  }
  return false;
}

function entryBytes(entry: CellEntry, cellBits: number): number {
  if (entry.kind === "cell") {
    let varint = 1;
    for (let n = entry.count; n >= 128; n = Math.floor(n / 128)) varint++;
    return 1 + varint + CELL_ID_BYTES - Math.min(cellBits >> 3, CELL_ID_BYTES) + 8;
  }
  return 1 + entry.ids.length * (entry.width - Math.min(cellBits >> 3, entry.width));
}

/**
 * Refuses a request whose ranges repeat or nest, except a range nested in a sub-cell that an
 * enclosing (masked) range does not ask about. Honest clients never ask about an id twice, and
 * this keeps one request from making the server sum the same ids more than once.
 */
export function assertDisjointCells(ranges: readonly CellRange[]): void {
  const sorted = ranges.map((range, i) => ({ key: bitKey(range.path, range.bits), range, i }))
    .sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i);
  const open: typeof sorted = [];
  for (const item of sorted) {
    while (open.length > 0 && !item.key.startsWith(open[open.length - 1].key)) open.pop();
    const outer = open[open.length - 1];
    if (outer !== undefined && !inUnasked(outer.range, outer.key, item.key)) {
      const [a, b] = [outer.i, item.i].sort((x, y) => x - y);
      throw new SyncFrameError("malformed", `Cannot accept range ${b}: it overlaps range ${a}`);
    }
    open.push(item);
  }
}

/** Whether the prefix `inner` lies in a sub-cell of `outer` that `outer` does not ask about. */
function inUnasked(outer: CellRange, outerKey: string, inner: string): boolean {
  if (outer.mask === null || inner.length < outerKey.length + outer.split) return false;
  const j = outer.split === 0
    ? 0
    : parseInt(inner.slice(outerKey.length, outerKey.length + outer.split), 2);
  return (outer.mask[j >> 3] & (1 << (j & 7))) === 0;
}
