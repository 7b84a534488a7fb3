/**
 * The wire frames of range reconciliation version 2 (cells; see `range_reconcile.ts`): a request
 * names bit-prefix ranges, each split into 2^split sub-cells with the client's salted
 * fingerprint of each; the response answers, for each range in order, which sub-cells differ
 * and, for each of those, the server's id list or its cell. Private to `src/sync/`.
 *
 *     request  = version:u8 (= 2)  salt:8  count:varint  range × count
 *     range    = bits:u8  path:⌈bits/8⌉  split:u8  list:u8  [mask:⌈2^split/8⌉]  fp:4 × present
 *     response = version:u8 (= 2)  deferred:varint  count:varint  answer × count
 *     answer   = differ:⌈present/8⌉  entry × popcount(differ)
 *     entry    = tag:u8 (0..64: IDS of tag 16-byte ids; 65: CELL; 128..192: IDS of tag-128
 *                32-byte ids)  body
 *     IDS body  = id-tail × n (each id cut to its width, without the ⌊cellBits/8⌋ bytes the
 *                 sub-cell's path fixes; strictly ascending; inside the sub-cell)
 *     CELL body = count:varint  sum-tail:(16 − known)  check:8
 *
 * - varint: unsigned LEB128, minimal. Every decodable frame re-encodes to the same bytes.
 * - path: the prefix's bits, high bit first; the unused low bits of its last byte are 0.
 * - split (bits 0..4, at most `SYNC_SPLIT_BITS_MAX`) and bit 7 = the range carries a mask;
 *   bits + split ≤ 255. Sub-cell j (0 ≤ j < 2^split) appends j's `split` bits to the path.
 * - list: bits 0..6 = listMax (0..`SYNC_RANGE_IDS_MAX`): a server holding at most that many
 *   ids in a differing sub-cell lists them instead of sending its cell; bit 7 = wide (32-byte
 *   ids). Ids are 16-byte prefixes otherwise, unless two of the listed share one, or the
 *   sub-cell is 128 bits deep or more.
 * - mask: bit j (byte j >> 3, value 1 << (j & 7)) = sub-cell j is asked about; absent, all are.
 *   An unasked sub-cell may hold other ranges of the same request; otherwise ranges may neither
 *   repeat nor nest.
 * - fp: the client's `cellFingerprint` of each asked sub-cell (little-endian u32), salted with
 *   the request's salt.
 * - differ: bit k = the k-th asked sub-cell differs (server fingerprint ≠ client's).
 * - CELL: the server's count, the sum of its ids' first 16 bytes (mod 2^128, little-endian,
 *   without the `known` = min(⌊cellBits/8⌋, 16) low bytes, which are count × path mod 256^known),
 *   and the XOR of their checks (two little-endian u32).
 * - deferred: how many ranges at the end of the request were not answered (response full).
 */
import { ID_BYTES } from "./id_trie.ts";
import { CELL_BITS_MAX, CELL_ID_BYTES, inPrefix, knownBytes, knownSumBytes } from "./_cell.ts";
import { SYNC_RANGE_IDS_MAX, SyncFrameError } from "./_range_frame.ts";
import { Reader, Writer } from "./_byte_io.ts";

/** The frame version of cell reconciliation. */
export const SYNC_FRAME_VERSION_CELLS = 2;
export { SYNC_FRAME_BYTES_MAX } from "./_byte_io.ts";
/** Most ranges in one version-2 request. */
export const SYNC_CELL_RANGES_MAX = 65_536;
/** Most bits one range splits by (2^16 sub-cells). */
export const SYNC_SPLIT_BITS_MAX = 16;
/** Bytes of a cell fingerprint on the wire. */
export const SYNC_CELL_FINGERPRINT_BYTES = 4;
/** Bytes of a request's salt. */
export const SYNC_SALT_BYTES = 8;
/**
 * Largest answer the server may have to give to one range (1,024 lists of 64 full ids, or
 * 65,536 cells); requests that could need more are refused.
 */
export const SYNC_ANSWER_BYTES_MAX = 2 * 1_048_576 + 65_536;
/** Largest CELL entry: tag, a 5-byte count, 16 sum bytes, 8 check bytes. */
export const CELL_ENTRY_BYTES_MAX = 1 + 5 + CELL_ID_BYTES + 8;
export const TAG_CELL = 65;
export const TAG_WIDE = 128;
const COUNT_MAX = 0xffff_ffff;

/** One range of a request. `fingerprints` has one entry per asked sub-cell, in order. */
export interface CellRange {
  readonly bits: number;
  readonly path: Uint8Array;
  readonly split: number;
  readonly listMax: number;
  readonly wide: boolean;
  readonly mask: Uint8Array | null;
  readonly fingerprints: Uint32Array;
}

export type CellEntry =
  | {
    readonly kind: "cell";
    readonly count: number;
    readonly sum16: Uint8Array;
    readonly check: Uint32Array;
  }
  | { readonly kind: "ids"; readonly width: 16 | 32; readonly ids: readonly Uint8Array[] };

/** The answer to one range: which asked sub-cells differ, and an entry for each. */
export interface CellAnswer {
  readonly differ: Uint8Array;
  readonly entries: readonly CellEntry[];
}

export interface CellRequest {
  readonly salt: Uint8Array;
  readonly ranges: readonly CellRange[];
}

export interface CellResponse {
  readonly deferred: number;
  readonly answers: readonly CellAnswer[];
}

/** Encoded size of a request range built from `range` (its fingerprints not yet computed). */
export function requestRangeBytes(
  range: Pick<CellRange, "bits" | "split" | "mask">,
): number {
  const mask = range.mask === null ? 0 : range.mask.length;
  return 1 + ((range.bits + 7) >> 3) + 2 + mask + presentCount(range) * SYNC_CELL_FINGERPRINT_BYTES;
}

/** How many sub-cells a range asks about. */
export function presentCount(range: Pick<CellRange, "split" | "mask">): number {
  if (range.mask === null) return 2 ** range.split;
  let n = 0;
  for (const byte of range.mask) for (let b = byte; b !== 0; b &= b - 1) n++;
  return n;
}

/** The sub-cell indices a range asks about, ascending. */
export function presentCells(range: Pick<CellRange, "split" | "mask">): number[] {
  const cells = 2 ** range.split, out: number[] = [];
  for (let j = 0; j < cells; j++) {
    if (range.mask === null || (range.mask[j >> 3] & (1 << (j & 7))) !== 0) out.push(j);
  }
  return out;
}

/** Largest possible answer to a range, bytes. */
export function answerBytesMax(range: Pick<CellRange, "split" | "mask" | "listMax">): number {
  const present = presentCount(range);
  const entry = Math.max(CELL_ENTRY_BYTES_MAX, 1 + range.listMax * ID_BYTES);
  return ((present + 7) >> 3) + present * entry;
}

/** Width and tail length of listed ids in a sub-cell `cellBits` deep. */
export function idTail(width: number, cellBits: number): number {
  return width - Math.min(cellBits >> 3, width);
}

// ---------------------------------------------------------------------------------------------
// Request

export function encodeCellRequest(request: CellRequest): Uint8Array {
  const w = new Writer();
  w.u8(SYNC_FRAME_VERSION_CELLS);
  w.put(request.salt);
  w.varint(request.ranges.length);
  for (const r of request.ranges) {
    w.u8(r.bits);
    w.put(r.path.subarray(0, (r.bits + 7) >> 3));
    w.u8(r.split | (r.mask === null ? 0 : 128));
    w.u8(r.listMax | (r.wide ? 128 : 0));
    if (r.mask !== null) w.put(r.mask);
    for (const fp of r.fingerprints) w.u32(fp);
  }
  return w.done();
}

export function decodeCellRequest(bytes: Uint8Array): CellRequest {
  const r = new Reader(bytes);
  if (r.u8() !== SYNC_FRAME_VERSION_CELLS) throw new SyncFrameError("version", "Not a v2 frame");
  const salt = r.take(SYNC_SALT_BYTES);
  const count = r.varint(SYNC_CELL_RANGES_MAX, "range count");
  const ranges: CellRange[] = [];
  for (let i = 0; i < count; i++) ranges.push(readRange(r, i));
  r.end();
  return { salt, ranges };
}

function readRange(r: Reader, i: number): CellRange {
  const bits = r.u8();
  const path = readPath(r, bits);
  const splitByte = r.u8(), listByte = r.u8();
  const split = splitByte & 127, listMax = listByte & 127, wide = listByte >= 128;
  if ((splitByte & 96) !== 0 || split > SYNC_SPLIT_BITS_MAX || bits + split > CELL_BITS_MAX) {
    throw new SyncFrameError("malformed", `Cannot accept range ${i}: split ${split} at ${bits}`);
  }
  if (listMax > SYNC_RANGE_IDS_MAX) {
    throw new SyncFrameError("limit", `Cannot accept range ${i}: listMax ${listMax}`);
  }
  let mask: Uint8Array | null = null;
  if (splitByte >= 128) {
    mask = r.take(((2 ** split) + 7) >> 3);
    const spare = (2 ** split) & 7;
    if (spare !== 0 && (mask[mask.length - 1] >> spare) !== 0) {
      throw new SyncFrameError("malformed", `Cannot accept range ${i}: mask bits past its cells`);
    }
    if (mask.every((b) => b === 0)) {
      throw new SyncFrameError("malformed", `Cannot accept range ${i}: it asks about no cell`);
    }
  }
  const shape = { split, mask, listMax };
  if (answerBytesMax(shape) > SYNC_ANSWER_BYTES_MAX) {
    throw new SyncFrameError("limit", `Cannot accept range ${i}: its answer could outgrow a frame`);
  }
  const n = presentCount(shape);
  const fingerprints = new Uint32Array(n);
  for (let k = 0; k < n; k++) fingerprints[k] = r.u32();
  return { bits, path, split, listMax, wide, mask, fingerprints };
}

function readPath(r: Reader, bits: number): Uint8Array {
  const path = r.take((bits + 7) >> 3);
  const spare = (8 - (bits & 7)) & 7;
  if (spare !== 0 && (path[path.length - 1] & ((1 << spare) - 1)) !== 0) {
    throw new SyncFrameError("malformed", "Cannot accept a path with bits set past its length");
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// Response

export function encodeCellResponse(
  response: CellResponse,
  asked: readonly CellRange[],
): Uint8Array {
  const w = new Writer();
  w.u8(SYNC_FRAME_VERSION_CELLS);
  w.varint(response.deferred);
  w.varint(response.answers.length);
  response.answers.forEach((answer, i) => {
    w.put(answer.differ);
    const cellBits = asked[i].bits + asked[i].split;
    for (const entry of answer.entries) writeEntry(w, entry, cellBits);
  });
  return w.done();
}

function writeEntry(w: Writer, entry: CellEntry, cellBits: number): void {
  if (entry.kind === "cell") {
    w.u8(TAG_CELL);
    w.varint(entry.count);
    w.put(entry.sum16.subarray(knownBytes(cellBits)));
    w.u32(entry.check[0]);
    w.u32(entry.check[1]);
    return;
  }
  w.u8(entry.width === ID_BYTES ? TAG_WIDE + entry.ids.length : entry.ids.length);
  const skip = entry.width - idTail(entry.width, cellBits);
  for (const id of entry.ids) w.put(id.subarray(skip, entry.width));
}

/**
 * Decodes a response to `asked` (the request's ranges, in order): every entry is checked against
 * the sub-cell it answers. Throws `SyncFrameError` for anything but a canonical answer.
 */
export function decodeCellResponse(bytes: Uint8Array, asked: readonly CellRange[]): CellResponse {
  const r = new Reader(bytes);
  if (r.u8() !== SYNC_FRAME_VERSION_CELLS) throw new SyncFrameError("version", "Not a v2 frame");
  const deferred = r.varint(asked.length, "deferred");
  const count = r.varint(asked.length, "answer count");
  if (count + deferred !== asked.length) {
    throw new SyncFrameError(
      "unexpected",
      `Cannot accept ${count} answers and ${deferred} deferred`,
    );
  }
  const answers: CellAnswer[] = [];
  for (let i = 0; i < count; i++) answers.push(readAnswer(r, asked[i]));
  r.end();
  return { deferred, answers };
}

function readAnswer(r: Reader, range: CellRange): CellAnswer {
  const cells = presentCells(range);
  const differ = r.take((cells.length + 7) >> 3);
  const spare = cells.length & 7;
  if (spare !== 0 && (differ[differ.length - 1] >> spare) !== 0) {
    throw new SyncFrameError("malformed", "Cannot accept differ bits past the asked cells");
  }
  const cellBits = range.bits + range.split;
  const entries: CellEntry[] = [];
  cells.forEach((j, k) => {
    if ((differ[k >> 3] & (1 << (k & 7))) === 0) return;
    entries.push(readEntry(r, range, j, cellBits));
  });
  return { differ, entries };
}

function readEntry(r: Reader, range: CellRange, j: number, cellBits: number): CellEntry {
  const tag = r.u8();
  const path = subCellPath(range, j);
  const known = knownBytes(cellBits);
  if (tag === TAG_CELL) {
    const count = r.varint(COUNT_MAX, "cell count");
    const sum16 = new Uint8Array(CELL_ID_BYTES);
    sum16.set(knownSumBytes(path, known, count));
    sum16.set(r.take(CELL_ID_BYTES - known), known);
    const check = Uint32Array.of(r.u32(), r.u32());
    return { kind: "cell", count, sum16, check };
  }
  const wide = tag >= TAG_WIDE;
  const n = wide ? tag - TAG_WIDE : tag;
  const width = wide ? ID_BYTES : CELL_ID_BYTES;
  if (n > SYNC_RANGE_IDS_MAX || (!wide && cellBits >= 8 * CELL_ID_BYTES)) {
    throw new SyncFrameError("malformed", `Cannot accept entry tag ${tag} here`);
  }
  const skip = width - idTail(width, cellBits);
  const ids: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const id = new Uint8Array(width);
    id.set(path.subarray(0, skip));
    id.set(r.take(width - skip), skip);
    if (!inPrefix(id, path, cellBits)) {
      throw new SyncFrameError("malformed", `Cannot accept id ${k}: outside its cell`);
    }
    if (k > 0 && compare(ids[k - 1], id) >= 0) {
      throw new SyncFrameError("malformed", `Cannot accept id ${k}: ids must ascend strictly`);
    }
    ids.push(id);
  }
  return { kind: "ids", width: width as 16 | 32, ids };
}

/** The path of asked sub-cell `j` of `range`, padded to 32 bytes. */
export function subCellPath(range: Pick<CellRange, "bits" | "path" | "split">, j: number) {
  const out = new Uint8Array(ID_BYTES);
  out.set(range.path.subarray(0, (range.bits + 7) >> 3));
  for (let k = 0; k < range.split; k++) {
    if (((j >>> (range.split - 1 - k)) & 1) === 0) continue;
    const at = range.bits + k;
    out[at >> 3] |= 0x80 >> (at & 7);
  }
  return out;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k] - b[k];
  return 0;
}
