/**
 * Range-based set reconciliation of delta ids (the Negentropy family) as a pure core: two regions
 * find which ids each holds that the other lacks, with traffic proportional to the difference,
 * in stateless rounds that each fit one HTTP request/response. The server side is one function
 * (`respond`), the client side a small object (`Reconciler`) that owns the session.
 *
 * Ranges are nibble-path prefixes of the ids (`IdTrie`), compared by fingerprint, and each
 * message goes one level deeper (alternating descent). The first request carries the client's
 * fingerprints of all 256 two-nibble ranges. The server answers each range that differs with its
 * id list if it holds at most `idListMax` ids there (`SYNC_RANGE_IDS_MAX` if the client holds
 * none), else with its 16 child fingerprints. The client diffs id lists both ways; for each
 * child that differs it sends its own fingerprints of that child's children (or, holding at most
 * `SYNC_WHOLE_RANGE_IDS_MAX` ids there, the child's fingerprint alone, so the server lists it).
 * A round trip descends two levels. Measured (bench/reconcile.ts), 100 differences (50 a side):
 * 10k ids, 2 rounds, ~19 KB; 100k, 2 rounds, ~28 KB; 1M, 3 rounds, ~45 KB (2 rounds, ~50 KB with
 * `idListMax` 32) — against 32 MB for the full id list of 1M.
 *
 * The frame format is in `_range_frame.ts`, the client in `_reconciler.ts`; this module is the
 * public face (server, client, codec) and its limits.
 *
 * ## Id prefixes
 *
 * Lists carry 16-byte id prefixes: among n ids, two distinct ids share one with probability at
 * most n²/2^129, 2^-89 for 1M. `IdTrie.lookup()` / `resolveIds()` map them back to full ids on
 * the server. A shared prefix across the two sides (id X here, X' there) is caught when the
 * client finds nothing to fetch in a range whose fingerprints differ; it then asks for that range
 * again with FINGERPRINT_WIDE and gets full ids. If the same range also had ids to fetch, the
 * collision surfaces in the next session, after the fetch: reconciliation always converges.
 *
 * ## Costs and limits
 *
 * Equal sets settle in one round (request ≤ 2,131 bytes: 16 CHILDREN ranges; response 3 bytes).
 * An empty server settles in one round; so does an empty client against a few thousand ids.
 * Dense differences degrade to moving the ids themselves (15–30 bytes an id), one frame a
 * round: an empty client against 100k ids takes ~25 rounds, disjoint 10k vs 10k ~5 and 100k vs
 * 100k ~60, bounded by `SYNC_ROUNDS_MAX` a session. A fresh region should copy a snapshot. The
 * server's work per request is bounded by the request (≤ 16 fingerprints for each of ≤ 1,024
 * ranges) and by the response size.
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
  SYNC_FRAME_BYTES_MAX,
  SYNC_FRAME_RANGES_MAX,
  SYNC_ID_PREFIX_BYTES,
  SYNC_RANGE_IDS_MAX,
  SyncFrameError,
  type SyncRange,
  varintBytes,
  wireFingerprint,
} from "./_range_frame.ts";
import { SYNC_WHOLE_RANGE_IDS_MAX } from "./_reconciler.ts";
import { FINGERPRINT_BYTES } from "../protocol/fingerprint.ts";

export {
  decodeFrame,
  encodeFrame,
  SYNC_FINGERPRINT_BYTES,
  SYNC_FRAME_BYTES_MAX,
  SYNC_FRAME_RANGES_MAX,
  SYNC_FRAME_VERSION,
  SYNC_ID_PREFIX_BYTES,
  SYNC_RANGE_IDS_MAX,
  type SyncFrame,
  SyncFrameError,
  type SyncFrameRejectReason,
  type SyncRange,
} from "./_range_frame.ts";
export {
  Reconciler,
  type ReconcilerOptions,
  type ReconcileStep,
  SYNC_ROUNDS_MAX,
  SYNC_SESSION_BYTES_MAX,
  SYNC_SESSION_DIFFERENCES_MAX,
  SYNC_SESSION_RANGES_MAX,
  SYNC_START_NIBBLES,
  SYNC_START_NIBBLES_MAX,
  SYNC_WHOLE_RANGE_IDS_MAX,
  SyncBudgetError,
} from "./_reconciler.ts";

/** Default for `idListMax`: a server holding at most this many ids in a differing range sends them. */
export const ID_LIST_MAX = 16;

/** Largest answer to one request range: 16 children, each an id list or a CHILDREN range. */
const ANSWER_BYTES_MAX = CHILDREN_PER_RANGE * Math.max(
  PREFIX_BYTES_MAX + 1 + SYNC_FINGERPRINT_BYTES + 1 + varintBytes(SYNC_RANGE_IDS_MAX) +
    SYNC_RANGE_IDS_MAX * ID_BYTES,
  CHILDREN_RANGE_BYTES_MAX,
);
/** Smallest usable response limit, bytes: the answer to any one request range must fit. */
export const SYNC_RESPONSE_BYTES_MIN = FRAME_HEADER_BYTES_MAX + ANSWER_BYTES_MAX;

// Every response must be able to answer at least one request range, or a session could stall.
if (SYNC_RESPONSE_BYTES_MIN > SYNC_FRAME_BYTES_MAX) {
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
  /** Send the id list of a differing range holding at most this many ids. Default `ID_LIST_MAX`. */
  readonly idListMax?: number;
  /** Response size cap, bytes, ≥ `SYNC_RESPONSE_BYTES_MIN`. Default `SYNC_FRAME_BYTES_MAX`. */
  readonly frameBytesMax?: number;
}

/**
 * Answers one request frame against the server's `trie`, statelessly: ranges whose fingerprints
 * match get nothing; others get the server's id list or child fingerprints. Ranges that do not
 * fit in the response are counted in its `deferred` field. Throws `SyncFrameError` for any frame
 * that is not a valid request.
 */
export function respond<T>(
  trie: IdTrie<T>,
  request: Uint8Array,
  options: RespondOptions = {},
): Uint8Array {
  const idListMax = options.idListMax ?? ID_LIST_MAX;
  const frameBytesMax = options.frameBytesMax ?? SYNC_FRAME_BYTES_MAX;
  if (!Number.isInteger(idListMax) || idListMax < 1 || idListMax > SYNC_RANGE_IDS_MAX) {
    throw new RangeError(`Cannot respond with idListMax ${idListMax}: 1..${SYNC_RANGE_IDS_MAX}`);
  }
  if (frameBytesMax < SYNC_RESPONSE_BYTES_MIN || frameBytesMax > SYNC_FRAME_BYTES_MAX) {
    throw new RangeError(`Cannot respond with frameBytesMax ${frameBytesMax}: too small or large`);
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
