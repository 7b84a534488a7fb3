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
 * ## Frame, version 1 (both directions)
 *
 *     frame  = version:u8 (= 1)  deferred:varint  count:varint  range × count
 *     range  = nibbles:u8 (0..64)  path:⌈nibbles/2⌉ bytes  kind:u8  body
 *     kind 0 FINGERPRINT       fp:8
 *     kind 1 FINGERPRINT_WIDE  fp:8                   (answer with full 32-byte ids)
 *     kind 2 CHILDREN          mask:u16 big-endian  fp:8 × popcount(mask)
 *     kind 3 IDS               fp:8  width:u8  n:varint  id-tail × n
 *
 * - varint: unsigned LEB128, minimal length. Every decodable frame re-encodes to the same bytes.
 * - path: the prefix's nibbles, high nibble of each byte first; an odd path's last low nibble is 0.
 * - fp: the first `SYNC_FINGERPRINT_BYTES` (8) of the sender's `IdAccumulator` fingerprint of the
 *   range, sha256(sum of ids mod 2^256 || varint(count)). 2^-64 per comparison of unequal ranges
 *   for hash ids; the sum is why ids must be hashes (x + y = z + w would collide).
 * - CHILDREN: the sender's fingerprints of the 16 ranges one nibble deeper; bit `1 << c` of the
 *   mask says child `c` is non-empty, and only non-empty children carry a fingerprint. Needs
 *   nibbles ≤ 63. It says what 16 FINGERPRINT ranges would, in a quarter fewer bytes or less.
 * - IDS: the sender's complete id list for the range and its fingerprint. `width` is 16 (id
 *   prefixes; nibbles ≤ 31) or 32 (full ids). Each id is cut to `width` bytes and sent without
 *   its first ⌊nibbles/2⌋ bytes, which the path fixes; ids ascend strictly and match the path.
 * - deferred: in a response, how many ranges at the end of the request were not answered
 *   because the response was full; the client asks them again. Always 0 in a request.
 * - A request carries kinds 0–2, a response kinds 2–3. Limits: `SYNC_FRAME_BYTES_MAX` bytes,
 *   `SYNC_FRAME_RANGES_MAX` ranges, `SYNC_RANGE_IDS_MAX` ids a range.
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
import { FINGERPRINT_BYTES, IdAccumulator } from "./fingerprint.ts";
import { ID_BYTES, ID_NIBBLES, type IdEntry, type IdTrie, nibblePath } from "./id_trie.ts";

/** The frame version this module reads and writes (the first byte of every frame). */
export const SYNC_FRAME_VERSION = 1;
/** Largest request or response frame, in bytes. */
export const SYNC_FRAME_BYTES_MAX = 65_536;
/** Most ranges in one frame (a CHILDREN range counts once). */
export const SYNC_FRAME_RANGES_MAX = 1_024;
/** Bytes of a fingerprint on the wire (a prefix of the 16-byte `IdAccumulator` fingerprint). */
export const SYNC_FINGERPRINT_BYTES = 8;
/** Bytes of an id prefix in id lists, unless full ids are needed. */
export const SYNC_ID_PREFIX_BYTES = 16;
/** Most ids one IDS range may carry on the wire; bounds `idListMax`. */
export const SYNC_RANGE_IDS_MAX = 64;
/** Default for `idListMax`: a server holding at most this many ids in a differing range sends them. */
export const ID_LIST_MAX = 16;
/**
 * A differing child where the client holds at most this many ids is asked about whole (one
 * FINGERPRINT range) instead of by its 16 children: the server most likely holds few there too
 * and lists them at once. Measured: disjoint 10k vs 10k drops from 17 rounds and 750 KB to 5
 * rounds and 280 KB; 100 differences in 10k cost ~10% more bytes, in 1M nothing measurable.
 */
export const SYNC_WHOLE_RANGE_IDS_MAX = 8;
/** Default depth, in nibbles, of the ranges the first request fingerprints (256 ranges). */
export const SYNC_START_NIBBLES = 2;
/** Deepest first request the client accepts, in nibbles (256 CHILDREN ranges, ≤ 34 KB). */
export const SYNC_START_NIBBLES_MAX = 3;
/** Default bound on the requests of one session; what is left waits for the next session. */
export const SYNC_ROUNDS_MAX = 1_024;

const CHILDREN_PER_RANGE = 16;
/** The wire fingerprint of an empty range: sha256(32 zero bytes || varint 0), cut. */
const EMPTY_FINGERPRINT = new IdAccumulator().fingerprintBytes().subarray(
  0,
  SYNC_FINGERPRINT_BYTES,
);
const KIND_FINGERPRINT = 0;
const KIND_FINGERPRINT_WIDE = 1;
const KIND_CHILDREN = 2;
const KIND_IDS = 3;
const FRAME_HEADER_BYTES_MAX = 1 + 2 * varintBytes(SYNC_FRAME_RANGES_MAX);
/** Largest prefix encoding: the length byte and 32 path bytes. */
const PREFIX_BYTES_MAX = 1 + ID_BYTES;
const CHILDREN_RANGE_BYTES_MAX = PREFIX_BYTES_MAX + 1 + 2 +
  CHILDREN_PER_RANGE * SYNC_FINGERPRINT_BYTES;

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

/** One range of a frame; `prefix` is a nibble path (one nibble per element). */
export type SyncRange =
  | {
    readonly kind: "fingerprint";
    readonly prefix: Uint8Array;
    readonly fingerprint: Uint8Array;
    /** Asks for full 32-byte ids in the answer: a 16-byte prefix was found shared. */
    readonly wide: boolean;
  }
  | {
    readonly kind: "children";
    readonly prefix: Uint8Array;
    /** 16 entries, child nibble order; null for an empty child. */
    readonly fingerprints: readonly (Uint8Array | null)[];
  }
  | {
    readonly kind: "ids";
    readonly prefix: Uint8Array;
    readonly fingerprint: Uint8Array;
    readonly width: 16 | 32;
    /** Ascending, each `width` bytes including the bytes the prefix fixes. */
    readonly ids: readonly Uint8Array[];
  };

/** A decoded frame. */
export interface SyncFrame {
  readonly deferred: number;
  readonly ranges: readonly SyncRange[];
}

/** Why a frame was refused; all of them are the peer's fault (HTTP 400), none is ours. */
export type SyncFrameRejectReason =
  | "not-bytes"
  | "oversize"
  | "truncated"
  | "version"
  | "limit"
  | "malformed"
  | "unexpected";

/** A frame that cannot be accepted. The HTTP edge maps it to 400 problem+json. */
export class SyncFrameError extends Error {
  override readonly name = "SyncFrameError";
  constructor(readonly reason: SyncFrameRejectReason, message: string) {
    super(message);
  }
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

/** Client options; defaults on the fields. */
export interface ReconcilerOptions {
  /** Request size cap, bytes, 256..`SYNC_FRAME_BYTES_MAX`. Default `SYNC_FRAME_BYTES_MAX`. */
  readonly frameBytesMax?: number;
  /** Depth of the first request's ranges, nibbles, 0..3. Default `SYNC_START_NIBBLES`. */
  readonly startNibbles?: number;
  /** Requests after which the session stops (`complete` stays false). Default `SYNC_ROUNDS_MAX`. */
  readonly roundsMax?: number;
}

/** What one response taught the client, and what to send next. */
export interface ReconcileStep {
  /** The next request, or null when the session is over. */
  readonly next: Uint8Array | null;
  /** Full ids the client holds and the server lacks, found in this response. */
  readonly have: Uint8Array[];
  /** Ids the server holds and the client lacks: 16-byte prefixes, or full ids when 32 bytes. */
  readonly need: Uint8Array[];
}

const CLIENT_FRAME_BYTES_MIN = 256;

if (CLIENT_FRAME_BYTES_MIN < FRAME_HEADER_BYTES_MAX + CHILDREN_RANGE_BYTES_MAX) {
  throw new Error("CLIENT_FRAME_BYTES_MIN must hold the largest request range");
}

/**
 * The client of one reconciliation session over its own `trie`: `start()` gives the first
 * request, `receive()` digests each response and gives the next request, until `next` is null.
 * `have` and `need` over all steps are the two set differences, each id reported once. Either
 * trie may grow during the session: ids added meanwhile may be reported (moving them again is
 * idempotent) or missed (the next session finds them).
 */
export class Reconciler<T> {
  readonly #trie: IdTrie<T>;
  readonly #frameBytesMax: number;
  readonly #startNibbles: number;
  readonly #roundsMax: number;
  #queue: SyncRange[] = [];
  #sent: SyncRange[] = [];
  #rounds = 0;
  #started = false;

  constructor(trie: IdTrie<T>, options: ReconcilerOptions = {}) {
    this.#trie = trie;
    this.#frameBytesMax = options.frameBytesMax ?? SYNC_FRAME_BYTES_MAX;
    this.#startNibbles = options.startNibbles ?? SYNC_START_NIBBLES;
    this.#roundsMax = options.roundsMax ?? SYNC_ROUNDS_MAX;
    const [f, s, r] = [this.#frameBytesMax, this.#startNibbles, this.#roundsMax];
    if (!Number.isInteger(f) || f < CLIENT_FRAME_BYTES_MIN || f > SYNC_FRAME_BYTES_MAX) {
      throw new RangeError(`Cannot reconcile with frameBytesMax ${f}`);
    }
    if (!Number.isInteger(s) || s < 0 || s > SYNC_START_NIBBLES_MAX) {
      throw new RangeError(`Cannot reconcile with startNibbles ${s}: 0..${SYNC_START_NIBBLES_MAX}`);
    }
    if (!Number.isInteger(r) || r < 1) throw new RangeError(`Cannot reconcile with roundsMax ${r}`);
  }

  /** Requests sent so far. */
  get rounds(): number {
    return this.#rounds;
  }

  /** Whether the session ran to the end (false while running, or when `roundsMax` cut it). */
  get complete(): boolean {
    return this.#started && this.#sent.length === 0 && this.#queue.length === 0;
  }

  /** The first request: the fingerprints of every range `startNibbles` deep. */
  start(): Uint8Array {
    if (this.#started) throw new Error("Cannot start a Reconciler twice");
    this.#started = true;
    if (this.#startNibbles === 0) {
      const root = new Uint8Array(0);
      this.#queue.push({
        kind: "fingerprint",
        prefix: root,
        fingerprint: wireFingerprint(this.#trie, root),
        wide: false,
      });
    } else {
      const parents = 16 ** (this.#startNibbles - 1);
      for (let p = 0; p < parents; p++) {
        const path = new Uint8Array(this.#startNibbles - 1);
        for (let i = path.length - 1, v = p; i >= 0; i--, v >>= 4) path[i] = v & 15;
        this.#queue.push(childrenRange(this.#trie, path));
      }
    }
    return this.#emit()!;
  }

  /**
   * Digests the response to the last request. Throws `SyncFrameError` if it is malformed or
   * answers something that was not asked.
   */
  receive(response: Uint8Array): ReconcileStep {
    if (this.#sent.length === 0) throw new Error("Cannot receive a response with no request out");
    const frame = decodeFrame(response);
    if (frame.deferred > this.#sent.length) {
      throw new SyncFrameError("unexpected", `Cannot defer ${frame.deferred} ranges of fewer`);
    }
    const answered = this.#sent.length - frame.deferred;
    const expected = new Map<string, boolean>();
    for (const range of this.#sent.slice(0, answered)) {
      if (range.kind === "fingerprint") expected.set(pathKey(range.prefix), range.wide);
      for (let c = 0; range.kind === "children" && c < CHILDREN_PER_RANGE; c++) {
        expected.set(pathKey(childPath(range.prefix, c)), false);
      }
    }
    this.#queue.unshift(...this.#sent.slice(answered));
    this.#sent = [];
    const have: Uint8Array[] = [];
    const need: Uint8Array[] = [];
    frame.ranges.forEach((range, i) => {
      const key = pathKey(range.prefix);
      const wide = expected.get(key);
      expected.delete(key);
      if (wide === undefined || range.kind === "fingerprint") {
        throw new SyncFrameError("unexpected", `Cannot accept response range ${i}: not asked for`);
      }
      if (range.kind === "children") this.#compareChildren(range, have, need);
      else if (wide && range.width !== ID_BYTES) {
        throw new SyncFrameError("unexpected", `Cannot accept range ${i}: full ids were asked for`);
      } else this.#diffIds(range, have, need);
    });
    return { next: this.#emit(), have, need };
  }

  /** Server child fingerprints: settle empty and last-nibble children, descend into the rest. */
  #compareChildren(
    range: Extract<SyncRange, { kind: "children" }>,
    have: Uint8Array[],
    need: Uint8Array[],
  ): void {
    for (let c = 0; c < CHILDREN_PER_RANGE; c++) {
      const child = childPath(range.prefix, c);
      const theirs = range.fingerprints[c];
      const count = this.#trie.count(child);
      if (theirs === null && count === 0) continue;
      if (theirs !== null && equalBytes(wireFingerprint(this.#trie, child), theirs)) continue;
      if (theirs === null) have.push(...this.#trie.ids(child));
      else if (child.length === ID_NIBBLES) {
        if (count === 0) need.push(packPath(child));
      } else if (count <= SYNC_WHOLE_RANGE_IDS_MAX) {
        this.#queue.push({
          kind: "fingerprint",
          prefix: child,
          fingerprint: wireFingerprint(this.#trie, child),
          wide: false,
        });
      } else this.#queue.push(childrenRange(this.#trie, child));
    }
  }

  /** Server id list: diff both ways, or ask again for full ids if a shared prefix shows. */
  #diffIds(
    range: Extract<SyncRange, { kind: "ids" }>,
    have: Uint8Array[],
    need: Uint8Array[],
  ): void {
    const mine = this.#trie.ids(range.prefix);
    const theirs = range.ids;
    const width = range.width;
    const mineOnly: Uint8Array[] = [];
    const theirsOnly: Uint8Array[] = [];
    const common = new IdAccumulator();
    let i = 0, j = 0, matched = false;
    while (i < mine.length || j < theirs.length) {
      let c = 0;
      if (i === mine.length) c = 1;
      else if (j === theirs.length) c = -1;
      else c = compareBytes(mine[i], theirs[j], width);
      if (c < 0) mineOnly.push(mine[i++]);
      else if (c === 0) {
        common.add(mine[i++]);
        matched = true;
      } else {
        if (!matched) theirsOnly.push(theirs[j]);
        j++;
        matched = false;
      }
    }
    const consistent = equalBytes(
      common.fingerprintBytes().subarray(0, SYNC_FINGERPRINT_BYTES),
      range.fingerprint,
    );
    if (width !== ID_BYTES && theirsOnly.length === 0 && !consistent) {
      this.#queue.push({
        kind: "fingerprint",
        prefix: range.prefix,
        fingerprint: wireFingerprint(this.#trie, range.prefix),
        wide: true,
      });
      return;
    }
    have.push(...mineOnly);
    need.push(...theirsOnly);
  }

  /** Takes what fits of the queue into the next request. */
  #emit(): Uint8Array | null {
    if (this.#queue.length === 0 || this.#rounds >= this.#roundsMax) return null;
    let bytes = FRAME_HEADER_BYTES_MAX;
    let take = 0;
    while (take < this.#queue.length && take < SYNC_FRAME_RANGES_MAX) {
      const size = rangeBytes(this.#queue[take]);
      if (bytes + size > this.#frameBytesMax) break;
      bytes += size;
      take++;
    }
    this.#sent = this.#queue.splice(0, take);
    this.#rounds++;
    return encodeFrame({ deferred: 0, ranges: this.#sent });
  }
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

// ---------------------------------------------------------------------------------------------
// Codec

/** Encodes a frame. Throws RangeError for a frame this module would never produce. */
export function encodeFrame(frame: SyncFrame): Uint8Array {
  if (frame.ranges.length > SYNC_FRAME_RANGES_MAX || frame.deferred > SYNC_FRAME_RANGES_MAX) {
    throw new RangeError(`Cannot encode a frame of ${frame.ranges.length} ranges`);
  }
  let size = 1 + varintBytes(frame.deferred) + varintBytes(frame.ranges.length);
  for (const range of frame.ranges) size += rangeBytes(range);
  if (size > SYNC_FRAME_BYTES_MAX) throw new RangeError(`Cannot encode a frame of ${size} bytes`);
  const w = new Writer(size);
  w.u8(SYNC_FRAME_VERSION);
  w.varint(frame.deferred);
  w.varint(frame.ranges.length);
  for (const range of frame.ranges) writeRange(w, range);
  return w.bytes;
}

function writeRange(w: Writer, range: SyncRange): void {
  const { prefix } = range;
  w.u8(prefix.length);
  w.bytes.set(packPath(prefix), w.pos);
  w.pos += (prefix.length + 1) >> 1;
  if (range.kind === "fingerprint") {
    w.u8(range.wide ? KIND_FINGERPRINT_WIDE : KIND_FINGERPRINT);
    w.fingerprint(range.fingerprint);
  } else if (range.kind === "children") {
    w.u8(KIND_CHILDREN);
    let mask = 0;
    range.fingerprints.forEach((fp, c) => mask |= fp === null ? 0 : 1 << c);
    w.u8(mask >> 8);
    w.u8(mask & 255);
    for (const fp of range.fingerprints) if (fp !== null) w.fingerprint(fp);
  } else {
    w.u8(KIND_IDS);
    w.fingerprint(range.fingerprint);
    w.u8(range.width);
    w.varint(range.ids.length);
    const skip = prefix.length >> 1;
    for (const id of range.ids) {
      if (id.length !== range.width) throw new RangeError(`Cannot encode an id of ${id.length} B`);
      w.bytes.set(id.subarray(skip), w.pos);
      w.pos += range.width - skip;
    }
  }
}

/** Encoded size of one range, bytes. */
function rangeBytes(range: SyncRange): number {
  const head = 1 + ((range.prefix.length + 1) >> 1) + 1;
  if (range.kind === "fingerprint") return head + SYNC_FINGERPRINT_BYTES;
  if (range.kind === "children") {
    const present = range.fingerprints.filter((fp) => fp !== null).length;
    return head + 2 + present * SYNC_FINGERPRINT_BYTES;
  }
  const tail = range.width - (range.prefix.length >> 1);
  return head + SYNC_FINGERPRINT_BYTES + 1 + varintBytes(range.ids.length) +
    range.ids.length * tail;
}

/** Decodes and validates a frame; throws `SyncFrameError` for anything but a canonical frame. */
export function decodeFrame(bytes: Uint8Array): SyncFrame {
  if (!(bytes instanceof Uint8Array)) throw new SyncFrameError("not-bytes", "A frame is bytes");
  if (bytes.length > SYNC_FRAME_BYTES_MAX) {
    throw new SyncFrameError("oversize", `Cannot accept a frame of ${bytes.length} bytes`);
  }
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== SYNC_FRAME_VERSION) {
    throw new SyncFrameError("version", `Cannot read frame version ${version}`);
  }
  const deferred = r.varint(SYNC_FRAME_RANGES_MAX, "deferred");
  const count = r.varint(SYNC_FRAME_RANGES_MAX, "range count");
  const ranges: SyncRange[] = [];
  for (let i = 0; i < count; i++) ranges.push(readRange(r));
  if (r.pos !== bytes.length) {
    throw new SyncFrameError("malformed", `Cannot accept ${bytes.length - r.pos} trailing bytes`);
  }
  return { deferred, ranges };
}

function readRange(r: Reader): SyncRange {
  const nibbles = r.u8();
  if (nibbles > ID_NIBBLES) {
    throw new SyncFrameError("malformed", `Cannot accept a prefix of ${nibbles} nibbles`);
  }
  const packed = r.take((nibbles + 1) >> 1);
  if ((nibbles & 1) === 1 && (packed[packed.length - 1] & 15) !== 0) {
    throw new SyncFrameError("malformed", "Cannot accept an odd prefix with a non-zero pad");
  }
  const prefix = nibblePath(packed, nibbles);
  const kind = r.u8();
  if (kind === KIND_FINGERPRINT || kind === KIND_FINGERPRINT_WIDE) {
    return {
      kind: "fingerprint",
      prefix,
      fingerprint: r.take(SYNC_FINGERPRINT_BYTES),
      wide: kind === KIND_FINGERPRINT_WIDE,
    };
  }
  if (kind === KIND_CHILDREN) {
    if (nibbles === ID_NIBBLES) {
      throw new SyncFrameError("malformed", "Cannot accept children of a whole id");
    }
    const mask = (r.u8() << 8) | r.u8();
    const fingerprints: (Uint8Array | null)[] = [];
    for (let c = 0; c < CHILDREN_PER_RANGE; c++) {
      fingerprints.push((mask & (1 << c)) === 0 ? null : r.take(SYNC_FINGERPRINT_BYTES));
    }
    return { kind: "children", prefix, fingerprints };
  }
  if (kind === KIND_IDS) return readIds(r, prefix, packed);
  throw new SyncFrameError("malformed", `Cannot accept range kind ${kind}`);
}

function readIds(r: Reader, prefix: Uint8Array, packed: Uint8Array): SyncRange {
  const fingerprint = r.take(SYNC_FINGERPRINT_BYTES);
  const width = r.u8();
  const skip = prefix.length >> 1;
  const fits = width === ID_BYTES || (width === SYNC_ID_PREFIX_BYTES && skip < width);
  if (!fits) {
    throw new SyncFrameError("malformed", `Cannot accept ids of ${width} bytes here`);
  }
  const n = r.varint(SYNC_RANGE_IDS_MAX, "id count");
  const ids: Uint8Array[] = [];
  for (let k = 0; k < n; k++) {
    const id = new Uint8Array(width);
    id.set(packed.subarray(0, skip));
    id.set(r.take(width - skip), skip);
    if ((prefix.length & 1) === 1 && id[skip] >> 4 !== prefix[prefix.length - 1]) {
      throw new SyncFrameError("malformed", `Cannot accept id ${k}: outside its range`);
    }
    if (k > 0 && compareBytes(ids[k - 1], id, width) >= 0) {
      throw new SyncFrameError("malformed", `Cannot accept id ${k}: ids must ascend strictly`);
    }
    ids.push(id);
  }
  return { kind: "ids", prefix, fingerprint, width: width as 16 | 32, ids };
}

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  u8(): number {
    if (this.pos >= this.bytes.length) throw truncated();
    return this.bytes[this.pos++];
  }

  take(n: number): Uint8Array {
    if (this.pos + n > this.bytes.length) throw truncated();
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A minimal LEB128 varint of at most `max`. */
  varint(max: number, what: string): number {
    let value = 0;
    for (let shift = 0;; shift += 7) {
      if (shift > VARINT_SHIFT_MAX) throw new SyncFrameError("limit", `Cannot read a long ${what}`);
      const byte = this.u8();
      value += (byte & 127) * 2 ** shift;
      if (value > max) {
        throw new SyncFrameError("limit", `Cannot accept ${what} above ${max}`);
      }
      if ((byte & 128) === 0) {
        if (byte === 0 && shift > 0) {
          throw new SyncFrameError("malformed", `Cannot accept a non-minimal varint`);
        }
        return value;
      }
    }
  }
}

/** Every varint of a frame is ≤ 2^21: at most 3 bytes. */
const VARINT_SHIFT_MAX = 14;

function truncated(): SyncFrameError {
  return new SyncFrameError("truncated", "Cannot read past the end of the frame");
}

class Writer {
  readonly bytes: Uint8Array;
  pos = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  u8(n: number): void {
    this.bytes[this.pos++] = n;
  }

  varint(n: number): void {
    do {
      this.u8((n & 127) | (n > 127 ? 128 : 0));
      n >>>= 7;
    } while (n > 0);
  }

  fingerprint(fp: Uint8Array): void {
    if (fp.length !== SYNC_FINGERPRINT_BYTES) throw new RangeError("A fingerprint is 8 bytes");
    this.bytes.set(fp, this.pos);
    this.pos += SYNC_FINGERPRINT_BYTES;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** The wire fingerprint of the range `prefix` of `trie`. */
function wireFingerprint<T>(trie: IdTrie<T>, prefix: Uint8Array): Uint8Array {
  return trie.fingerprint(prefix).subarray(0, SYNC_FINGERPRINT_BYTES);
}

/** `trie`'s CHILDREN range for `prefix`: its fingerprint of each non-empty child. */
function childrenRange<T>(trie: IdTrie<T>, prefix: Uint8Array): SyncRange {
  const fingerprints: (Uint8Array | null)[] = [];
  for (let c = 0; c < CHILDREN_PER_RANGE; c++) {
    const child = childPath(prefix, c);
    fingerprints.push(trie.count(child) === 0 ? null : wireFingerprint(trie, child));
  }
  return { kind: "children", prefix, fingerprints };
}

function childPath(prefix: Uint8Array, nibble: number): Uint8Array {
  const out = new Uint8Array(prefix.length + 1);
  out.set(prefix);
  out[prefix.length] = nibble;
  return out;
}

/** Packs a nibble path into ⌈n/2⌉ bytes, high nibble first. */
function packPath(path: Uint8Array): Uint8Array {
  const out = new Uint8Array((path.length + 1) >> 1);
  for (let i = 0; i < path.length; i++) out[i >> 1] |= (i & 1) === 0 ? path[i] << 4 : path[i];
  return out;
}

const HEX = "0123456789abcdef";

function pathKey(path: Uint8Array): string {
  let key = "";
  for (const n of path) key += HEX[n];
  return key;
}

function varintBytes(n: number): number {
  let bytes = 1;
  while (n > 127) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

function compareBytes(a: Uint8Array, b: Uint8Array, length: number): number {
  for (let k = 0; k < length; k++) {
    const d = a[k] - b[k];
    if (d !== 0) return d;
  }
  return 0;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b, a.length) === 0;
}
