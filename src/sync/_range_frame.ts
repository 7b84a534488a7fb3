/**
 * The wire frame of range reconciliation (`range_reconcile.ts`): one codec for requests and
 * responses, and the helpers both sides share. Private to `src/sync/`.
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
 * - A request carries kinds 0–2, a response kinds 2–3. Limits: `SYNC_FRAME_V1_BYTES_MAX` bytes,
 *   `SYNC_FRAME_RANGES_MAX` ranges, `SYNC_RANGE_IDS_MAX` ids a range.
 */
import { IdAccumulator } from "../protocol/fingerprint.ts";
import { ID_BYTES, ID_NIBBLES, type IdTrie, nibblePath } from "./id_trie.ts";

/** The frame version this module reads and writes (the first byte of every frame). */
export const SYNC_FRAME_VERSION = 1;
/** Largest version-1 request or response frame, in bytes (version 2: `SYNC_FRAME_BYTES_MAX`). */
export const SYNC_FRAME_V1_BYTES_MAX = 65_536;
/** Most ranges in one frame (a CHILDREN range counts once). */
export const SYNC_FRAME_RANGES_MAX = 1_024;
/** Bytes of a fingerprint on the wire (a prefix of the 16-byte `IdAccumulator` fingerprint). */
export const SYNC_FINGERPRINT_BYTES = 8;
/** Bytes of an id prefix in id lists, unless full ids are needed. */
export const SYNC_ID_PREFIX_BYTES = 16;
/** Most ids one IDS range may carry on the wire; bounds `idListMax`. */
export const SYNC_RANGE_IDS_MAX = 64;

export const CHILDREN_PER_RANGE = 16;
/** The wire fingerprint of an empty range: sha256(32 zero bytes || varint 0), cut. */
export const EMPTY_FINGERPRINT = new IdAccumulator().fingerprintBytes().subarray(
  0,
  SYNC_FINGERPRINT_BYTES,
);
export const KIND_FINGERPRINT = 0;
export const KIND_FINGERPRINT_WIDE = 1;
export const KIND_CHILDREN = 2;
export const KIND_IDS = 3;
export const FRAME_HEADER_BYTES_MAX = 1 + 2 * varintBytes(SYNC_FRAME_RANGES_MAX);
/** Largest prefix encoding: the length byte and 32 path bytes. */
export const PREFIX_BYTES_MAX = 1 + ID_BYTES;
export const CHILDREN_RANGE_BYTES_MAX = PREFIX_BYTES_MAX + 1 + 2 +
  CHILDREN_PER_RANGE * SYNC_FINGERPRINT_BYTES;

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

/** Encodes a frame. Throws RangeError for a frame this module would never produce. */
export function encodeFrame(frame: SyncFrame): Uint8Array {
  if (frame.ranges.length > SYNC_FRAME_RANGES_MAX || frame.deferred > SYNC_FRAME_RANGES_MAX) {
    throw new RangeError(`Cannot encode a frame of ${frame.ranges.length} ranges`);
  }
  let size = 1 + varintBytes(frame.deferred) + varintBytes(frame.ranges.length);
  for (const range of frame.ranges) size += rangeBytes(range);
  if (size > SYNC_FRAME_V1_BYTES_MAX) {
    throw new RangeError(`Cannot encode a frame of ${size} bytes`);
  }
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
export function rangeBytes(range: SyncRange): number {
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
  if (bytes.length > SYNC_FRAME_V1_BYTES_MAX) {
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
export function wireFingerprint<T>(trie: IdTrie<T>, prefix: Uint8Array): Uint8Array {
  return trie.fingerprint(prefix).subarray(0, SYNC_FINGERPRINT_BYTES);
}

/** `trie`'s CHILDREN range for `prefix`: its fingerprint of each non-empty child. */
export function childrenRange<T>(trie: IdTrie<T>, prefix: Uint8Array): SyncRange {
  const fingerprints: (Uint8Array | null)[] = [];
  for (let c = 0; c < CHILDREN_PER_RANGE; c++) {
    const child = childPath(prefix, c);
    fingerprints.push(trie.count(child) === 0 ? null : wireFingerprint(trie, child));
  }
  return { kind: "children", prefix, fingerprints };
}

export function childPath(prefix: Uint8Array, nibble: number): Uint8Array {
  const out = new Uint8Array(prefix.length + 1);
  out.set(prefix);
  out[prefix.length] = nibble;
  return out;
}

/** Packs a nibble path into ⌈n/2⌉ bytes, high nibble first. */
export function packPath(path: Uint8Array): Uint8Array {
  const out = new Uint8Array((path.length + 1) >> 1);
  for (let i = 0; i < path.length; i++) out[i >> 1] |= (i & 1) === 0 ? path[i] << 4 : path[i];
  return out;
}

export const HEX = "0123456789abcdef";

export function pathKey(path: Uint8Array): string {
  let key = "";
  for (const n of path) key += HEX[n];
  return key;
}

export function varintBytes(n: number): number {
  let bytes = 1;
  while (n > 127) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

export function compareBytes(a: Uint8Array, b: Uint8Array, length: number): number {
  for (let k = 0; k < length; k++) {
    const d = a[k] - b[k];
    if (d !== 0) return d;
  }
  return 0;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b, a.length) === 0;
}
