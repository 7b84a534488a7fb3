/**
 * Range-based set reconciliation of delta ids (the Negentropy family, with coded symbols at the
 * leaves) as a pure core: two regions find which ids each holds that the other lacks, with
 * traffic proportional to the difference, in stateless rounds that each fit one HTTP
 * request/response. The server side is one function (`respond`), the client side a small object
 * (`Reconciler`) that owns the session.
 *
 * ## Version 2: cells (`_cell_frame.ts`, `_reconciler.ts`)
 *
 * A range is a bit prefix of the ids. Its cell is its count, the sum of its ids and the XOR of
 * their 64-bit checks (`_cell.ts`), all kept by `IdTrie` per node, so a cell costs O(1). The
 * client sends salted 4-byte fingerprints of the cells it asks about; the server answers each
 * cell that differs with its ids (when it holds at most the range's listMax there) or with its
 * cell, from which the client reads the one id by which the cell differs, if it differs by one.
 *
 * - Round 1 asks about nested strata (15 cells 4 bits deep, 15 cells 8 bits deep under the
 *   first, ..., about log16 n strata, ~330 bytes at 1M ids): small differences settle here;
 *   how many cells of each stratum differ estimates the difference d.
 * - Round 2 splits each range still differing into about 4 sub-cells per difference it should
 *   hold (adaptive fan-out, from 2 to 65,536 sub-cells a range), so ~78% of the differences sit
 *   alone in a sub-cell and are named by its cell; where the server holds few ids against the
 *   difference (an empty side, a dense difference) it asks for id lists sized to the range.
 * - Later rounds split the few sub-cells that held several differences 16-fold per difference.
 *
 * Measured (bench/reconcile.ts, 1M vs 1M): see docs/performance.md, "Reconciliation against
 * the field (issue 14)". A session limited by `differencesMax` reconciles only a window of the
 * id space holding about that many differences (rotated by `startAt`).
 *
 * ## Version 1 (`_range_frame.ts`, `_reconciler_v1.ts`)
 *
 * Nibble prefixes compared by 8-byte fingerprints, each message one level deeper (16 children
 * a range), id lists of at most 16 ids. `respond()` still answers version-1 frames (the first
 * byte tells), in version-1 frames of at most 64 KiB, so clients that speak only version 1 keep
 * working; `ReconcilerV1` is its client.
 *
 * ## Id prefixes
 *
 * Lists and cells carry 16-byte id prefixes: among n ids, two distinct ids share one with
 * probability at most n²/2^129, 2^-89 for 1M. `IdTrie.lookup()` / `resolveIds()` map them back
 * to full ids on the server. A prefix shared across the two sides (id X here, X' there) shows as
 * a range that differs while its lists or cells look alike; the client then asks for that range
 * again with full 32-byte ids. Reconciliation always converges.
 *
 * ## Costs and limits
 *
 * Equal sets settle in one round. The server's work per request is bounded by the request: one
 * cell per asked sub-cell (O(1) at most 16 bits deep), ids only where it holds at most listMax,
 * ranges that neither repeat nor nest; a version-2 frame is at most `SYNC_FRAME_BYTES_MAX`
 * (4 MiB), and the answer to one range at most `SYNC_ANSWER_BYTES_MAX`.
 */
import { ID_BYTES, type IdEntry, type IdTrie } from "./id_trie.ts";
import {
  childPath,
  CHILDREN_PER_RANGE,
  CHILDREN_RANGE_BYTES_MAX,
  childrenRange,
  compareBytes,
  decodeFrame,
  EMPTY_FINGERPRINT,
  encodeFrame,
  equalBytes,
  FRAME_HEADER_BYTES_MAX,
  pathKey,
  PREFIX_BYTES_MAX,
  rangeBytes,
  SYNC_FINGERPRINT_BYTES,
  SYNC_FRAME_RANGES_MAX,
  SYNC_FRAME_V1_BYTES_MAX,
  SYNC_ID_PREFIX_BYTES,
  SYNC_RANGE_IDS_MAX,
  SyncFrameError,
  type SyncRange,
  varintBytes,
  wireFingerprint,
} from "./_range_frame.ts";
import { SYNC_WHOLE_RANGE_IDS_MAX } from "./_reconciler_v1.ts";
import { SYNC_FRAME_BYTES_MAX, SYNC_FRAME_VERSION_CELLS } from "./_cell_frame.ts";
import { respondCells, SYNC_CELL_RESPONSE_BYTES_MIN } from "./_cell_respond.ts";
import { FINGERPRINT_BYTES } from "../protocol/fingerprint.ts";

export {
  decodeFrame,
  encodeFrame,
  SYNC_FINGERPRINT_BYTES,
  SYNC_FRAME_RANGES_MAX,
  SYNC_FRAME_V1_BYTES_MAX,
  SYNC_FRAME_VERSION,
  SYNC_ID_PREFIX_BYTES,
  SYNC_RANGE_IDS_MAX,
  type SyncFrame,
  SyncFrameError,
  type SyncFrameRejectReason,
  type SyncRange,
} from "./_range_frame.ts";
export {
  type CellAnswer,
  type CellEntry,
  type CellRange,
  decodeCellRequest,
  decodeCellResponse,
  encodeCellRequest,
  encodeCellResponse,
  SYNC_ANSWER_BYTES_MAX,
  SYNC_CELL_FINGERPRINT_BYTES,
  SYNC_CELL_RANGES_MAX,
  SYNC_FRAME_BYTES_MAX,
  SYNC_FRAME_VERSION_CELLS,
  SYNC_SPLIT_BITS_MAX,
} from "./_cell_frame.ts";
export { SYNC_CELL_RESPONSE_BYTES_MIN } from "./_cell_respond.ts";
export { Reconciler, SYNC_CLIENT_FRAME_BYTES } from "./_reconciler.ts";
export {
  ReconcilerV1,
  SYNC_START_NIBBLES,
  SYNC_START_NIBBLES_MAX,
  SYNC_WHOLE_RANGE_IDS_MAX,
} from "./_reconciler_v1.ts";
export {
  type ReconcilerOptions,
  type ReconcileStep,
  SYNC_ROUNDS_MAX,
  SYNC_SESSION_BYTES_MAX,
  SYNC_SESSION_DIFFERENCES_MAX,
  SYNC_SESSION_RANGES_MAX,
  SyncBudgetError,
} from "./_session.ts";

/** Version 1: default `idListMax`, a server holding at most this many ids in a differing range sends them. */
export const ID_LIST_MAX = 16;

/** Largest answer to one request range: 16 children, each an id list or a CHILDREN range. */
const ANSWER_BYTES_MAX = CHILDREN_PER_RANGE * Math.max(
  PREFIX_BYTES_MAX + 1 + SYNC_FINGERPRINT_BYTES + 1 + varintBytes(SYNC_RANGE_IDS_MAX) +
    SYNC_RANGE_IDS_MAX * ID_BYTES,
  CHILDREN_RANGE_BYTES_MAX,
);
/** Version 1: smallest usable response limit, bytes: the answer to any one request range must fit. */
export const SYNC_RESPONSE_BYTES_MIN = FRAME_HEADER_BYTES_MAX + ANSWER_BYTES_MAX;

// Every response must be able to answer at least one request range, or a session could stall.
if (
  SYNC_RESPONSE_BYTES_MIN > SYNC_FRAME_V1_BYTES_MAX ||
  SYNC_CELL_RESPONSE_BYTES_MIN > SYNC_FRAME_BYTES_MAX
) {
  throw new Error("SYNC_FRAME_BYTES_MAX must hold the answer to one range at SYNC_RANGE_IDS_MAX");
}
if (
  SYNC_WHOLE_RANGE_IDS_MAX > ID_LIST_MAX || ID_LIST_MAX > SYNC_RANGE_IDS_MAX ||
  SYNC_FRAME_RANGES_MAX < CHILDREN_PER_RANGE
) {
  throw new Error("SYNC_WHOLE_RANGE_IDS_MAX ≤ ID_LIST_MAX ≤ SYNC_RANGE_IDS_MAX must hold");
}
if (SYNC_FINGERPRINT_BYTES > FINGERPRINT_BYTES || 2 * SYNC_ID_PREFIX_BYTES !== ID_BYTES) {
  throw new Error("wire fingerprints cut IdAccumulator's; id prefixes are half an id");
}

/** Server options; defaults on the fields. */
export interface RespondOptions {
  /** Version 1: send the id list of a differing range holding at most this many ids. Default `ID_LIST_MAX`. */
  readonly idListMax?: number;
  /**
   * Response size cap, bytes: version 1 `SYNC_RESPONSE_BYTES_MIN`..`SYNC_FRAME_V1_BYTES_MAX`
   * (default the latter), version 2 `SYNC_CELL_RESPONSE_BYTES_MIN`..`SYNC_FRAME_BYTES_MAX`
   * (default the latter). A cap past a version's maximum is cut to it.
   */
  readonly frameBytesMax?: number;
}

/**
 * Answers one request frame against the server's `trie`, statelessly, in the request's frame
 * version (its first byte): version 2 with `respondCells` (`_cell_respond.ts`), version 1 below.
 * Ranges that do not fit in the response are counted in its `deferred` field. Throws
 * `SyncFrameError` for any frame that is not a valid request.
 */
export function respond<T>(
  trie: IdTrie<T>,
  request: Uint8Array,
  options: RespondOptions = {},
): Uint8Array {
  if (request instanceof Uint8Array && request[0] === SYNC_FRAME_VERSION_CELLS) {
    const cap = Math.min(options.frameBytesMax ?? SYNC_FRAME_BYTES_MAX, SYNC_FRAME_BYTES_MAX);
    if (!(cap >= SYNC_CELL_RESPONSE_BYTES_MIN)) {
      throw new RangeError(`Cannot respond with frameBytesMax ${cap}: too small`);
    }
    return respondCells(trie, request, cap);
  }
  return respondV1(trie, request, options);
}

/** Answers a version-1 request: ranges whose fingerprints match get nothing; others the server's id list or child fingerprints. */
function respondV1<T>(trie: IdTrie<T>, request: Uint8Array, options: RespondOptions): Uint8Array {
  const idListMax = options.idListMax ?? ID_LIST_MAX;
  const frameBytesMax = Math.min(
    options.frameBytesMax ?? SYNC_FRAME_V1_BYTES_MAX,
    SYNC_FRAME_V1_BYTES_MAX,
  );
  if (!Number.isInteger(idListMax) || idListMax < 1 || idListMax > SYNC_RANGE_IDS_MAX) {
    throw new RangeError(`Cannot respond with idListMax ${idListMax}: 1..${SYNC_RANGE_IDS_MAX}`);
  }
  if (frameBytesMax < SYNC_RESPONSE_BYTES_MIN) {
    throw new RangeError(`Cannot respond with frameBytesMax ${frameBytesMax}: too small`);
  }
  const frame = decodeFrame(request);
  if (frame.deferred !== 0) {
    throw new SyncFrameError("malformed", `Cannot accept a request that defers ${frame.deferred}`);
  }
  frame.ranges.forEach((range, i) => {
    if (range.kind === "ids") {
      throw new SyncFrameError("unexpected", `Cannot accept an id list in a request: range ${i}`);
    }
  });
  assertDisjoint(frame.ranges);
  const out: SyncRange[] = [];
  let bytes = FRAME_HEADER_BYTES_MAX;
  let answered = 0;
  for (const range of frame.ranges) {
    const answers = answer(trie, range, idListMax);
    const size = answers.reduce((sum, a) => sum + rangeBytes(a), 0);
    if (bytes + size > frameBytesMax || out.length + answers.length > SYNC_FRAME_RANGES_MAX) break;
    out.push(...answers);
    bytes += size;
    answered++;
  }
  return encodeFrame({ deferred: frame.ranges.length - answered, ranges: out });
}

/**
 * Refuses a request whose ranges repeat or nest (one prefix starts another). A client's ranges
 * are always disjoint (each replaces its parent), so this costs honest clients nothing and caps
 * the server's work on a request at one answer per disjoint part of the id space.
 */
function assertDisjoint(ranges: readonly SyncRange[]): void {
  const keys = ranges.map((range, i) => ({ key: pathKey(range.prefix), i }))
    .sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  for (let k = 1; k < keys.length; k++) {
    if (keys[k].key.startsWith(keys[k - 1].key)) {
      const [a, b] = [keys[k - 1].i, keys[k].i].sort((x, y) => x - y);
      throw new SyncFrameError("malformed", `Cannot accept range ${b}: it overlaps range ${a}`);
    }
  }
}

/** The server's answers to one request range (fingerprint or children). */
function answer<T>(trie: IdTrie<T>, range: SyncRange, idListMax: number): SyncRange[] {
  if (range.kind === "fingerprint") {
    const mine = wireFingerprint(trie, range.prefix);
    if (equalBytes(mine, range.fingerprint)) return [];
    const clientEmpty = equalBytes(range.fingerprint, EMPTY_FINGERPRINT);
    return [answerRange(trie, range.prefix, mine, range.wide, clientEmpty, idListMax)];
  }
  if (range.kind !== "children") return [];
  const out: SyncRange[] = [];
  for (let c = 0; c < CHILDREN_PER_RANGE; c++) {
    const theirs = range.fingerprints[c];
    const child = childPath(range.prefix, c);
    if (theirs === null && trie.count(child) === 0) continue;
    const mine = wireFingerprint(trie, child);
    if (theirs !== null && equalBytes(mine, theirs)) continue;
    out.push(answerRange(trie, child, mine, false, theirs === null, idListMax));
  }
  return out;
}

/**
 * A differing range: the server's id list when it holds at most `idListMax` ids there (up to
 * `SYNC_RANGE_IDS_MAX` when the client holds none: it needs them all anyway, and descending
 * would cost a round and a range header per child), else its child fingerprints.
 */
function answerRange<T>(
  trie: IdTrie<T>,
  prefix: Uint8Array,
  fingerprint: Uint8Array,
  wide: boolean,
  clientEmpty: boolean,
  idListMax: number,
): SyncRange {
  const count = trie.count(prefix);
  if (count > (clientEmpty ? SYNC_RANGE_IDS_MAX : idListMax)) return childrenRange(trie, prefix);
  const ids = trie.ids(prefix);
  const width = wide || prefix.length >= 2 * SYNC_ID_PREFIX_BYTES || sharesPrefix(ids)
    ? ID_BYTES
    : SYNC_ID_PREFIX_BYTES;
  return {
    kind: "ids",
    prefix,
    fingerprint,
    width,
    ids: width === ID_BYTES ? ids : ids.map((id) => id.subarray(0, width)),
  };
}

/** Whether two of these ascending ids share their first `SYNC_ID_PREFIX_BYTES` bytes. */
function sharesPrefix(ids: readonly Uint8Array[]): boolean {
  for (let i = 1; i < ids.length; i++) {
    if (compareBytes(ids[i - 1], ids[i], SYNC_ID_PREFIX_BYTES) === 0) return true;
  }
  return false;
}

/**
 * Maps ids or id prefixes (as in `need`) to the server's full entries, at most `max` in all;
 * a prefix matches every id it starts (a 16-byte prefix almost always exactly one).
 */
export function resolveIds<T>(
  trie: IdTrie<T>,
  ids: readonly Uint8Array[],
  max: number,
): IdEntry<T>[] {
  const out: IdEntry<T>[] = [];
  for (const id of ids) {
    if (out.length >= max) break;
    out.push(...trie.lookup(id, max - out.length));
  }
  return out;
}
