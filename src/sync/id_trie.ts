/**
 * A set of 32-byte ids, each with a small payload (the region keeps the delta's channel), shaped
 * for range-based set reconciliation (`range_reconcile.ts`): a 16-way trie over the ids' hex
 * nibbles, where a range is a nibble-path prefix and its fingerprint is the `IdAccumulator`
 * fingerprint of the ids under it.
 *
 * Layout, chosen so that 1,000,000 ids load in ~2 s and take ~105 MB (32 MB of them the ids):
 * - every node at depths 0..4 (1 + 16 + 256 + 4,096 + 65,536 nodes) keeps a running 256-bit sum
 *   and a count in two typed arrays (2.5 MB, allocated on the first insert), so the fingerprint
 *   of any prefix of at most 4 nibbles is one sha256 and inserting touches 5 sums;
 * - the ids themselves live in 65,536 leaf buckets, one per 2-byte prefix, each a sorted packed
 *   byte array (≈15 ids a bucket at 1M), so a deeper prefix is a binary search plus a short scan.
 *
 * Ids are sha256 hashes, so buckets stay small. An author grinding bodies into one 2-byte prefix
 * (65,536 hashes an id) only slows that bucket: inserts there are O(bucket) memmove and its deep
 * prefixes O(bucket) to fingerprint; every other range keeps its cost.
 */
import { sha256 } from "../crypto/sha256.ts";
import { encodeVarint, FINGERPRINT_BYTES } from "./fingerprint.ts";

/** Bytes in an id. */
export const ID_BYTES = 32;
/** Nibbles in an id: the deepest prefix names exactly one id. */
export const ID_NIBBLES = ID_BYTES * 2;
/** Nibbles down to which every trie node keeps a running sum and count (16^4 leaf buckets). */
export const TRIE_ACCUMULATED_NIBBLES = 4;
/** Most ids one trie holds: counts are kept in 32-bit cells. */
export const ID_TRIE_IDS_MAX = 0xffff_ffff;

const LIMBS = ID_BYTES / 4;
const BUCKETS = 16 ** TRIE_ACCUMULATED_NIBBLES;
const BUCKET_IDS_INITIAL = 4;
/** Index of the first node of each depth 0..4 in the accumulator arrays. */
const DEPTH_OFFSET = [0, 1, 17, 273, 4_369];
const NODES = 4_369 + BUCKETS;
/** Scratch limbs of the id being added or summed (the trie is single-threaded). */
const LIMBS_SCRATCH = new Uint32Array(LIMBS);

if (DEPTH_OFFSET[TRIE_ACCUMULATED_NIBBLES] + BUCKETS !== NODES) {
  throw new Error("DEPTH_OFFSET must lay out 16^d nodes for every accumulated depth d");
}

/** A path of nibbles (each 0..15, high nibble of a byte first), at most `ID_NIBBLES` long. */
export type NibblePath = ArrayLike<number>;

/** The first `nibbles` nibbles of `bytes`, one per element. */
export function nibblePath(bytes: Uint8Array, nibbles = bytes.length * 2): Uint8Array {
  if (!Number.isInteger(nibbles) || nibbles < 0 || nibbles > bytes.length * 2) {
    throw new RangeError(`Cannot take ${nibbles} nibbles of ${bytes.length} bytes`);
  }
  const out = new Uint8Array(nibbles);
  for (let i = 0; i < nibbles; i++) {
    const byte = bytes[i >> 1];
    out[i] = (i & 1) === 0 ? byte >> 4 : byte & 15;
  }
  return out;
}

/** An id and its payload, as `IdTrie.lookup()` returns them. */
export interface IdEntry<T> {
  readonly id: Uint8Array;
  readonly value: T;
}

type Visit<T> = (ids: Uint8Array, offset: number, value: T) => void;

/** A set of 32-byte ids with a payload each, with O(1) fingerprints of short prefix ranges. */
export class IdTrie<T> {
  readonly #buckets: (Bucket<T> | undefined)[] = new Array(BUCKETS);
  /** Per node: the sum of its ids mod 2^256 as 8 little-endian 32-bit limbs. */
  #sums: Uint32Array | null = null;
  #counts: Uint32Array | null = null;
  #size = 0;

  /** How many ids the trie holds. */
  get size(): number {
    return this.#size;
  }

  /** Adds `id` with its payload; false (and the old payload kept) if the id is already present. */
  add(id: Uint8Array, value: T): boolean {
    assertId(id);
    const b = (id[0] << 8) | id[1];
    const bucket = this.#buckets[b] ??= new Bucket<T>();
    const at = bucket.search(id);
    if (at >= 0) return false;
    if (this.#size >= ID_TRIE_IDS_MAX) throw new RangeError(`IdTrie holds ${ID_TRIE_IDS_MAX} ids`);
    bucket.insert(-at - 1, id, value);
    const sums = this.#sums ??= new Uint32Array(NODES * LIMBS);
    const counts = this.#counts ??= new Uint32Array(NODES);
    readLimbs(id, 0, LIMBS_SCRATCH);
    for (let depth = 0; depth <= TRIE_ACCUMULATED_NIBBLES; depth++) {
      const node = DEPTH_OFFSET[depth] + (b >> (16 - 4 * depth));
      addInto(sums, node * LIMBS, LIMBS_SCRATCH);
      counts[node]++;
    }
    this.#size++;
    return true;
  }

  /** Whether `id` is in the trie. */
  has(id: Uint8Array): boolean {
    assertId(id);
    const bucket = this.#buckets[(id[0] << 8) | id[1]];
    return bucket !== undefined && bucket.search(id) >= 0;
  }

  /** The payload stored with `id`, or undefined when absent. */
  get(id: Uint8Array): T | undefined {
    assertId(id);
    const bucket = this.#buckets[(id[0] << 8) | id[1]];
    const at = bucket?.search(id) ?? -1;
    return at >= 0 ? bucket!.values[at] : undefined;
  }

  /** How many ids start with the nibble path `prefix`: O(1) up to 4 nibbles, O(log bucket) below. */
  count(prefix: NibblePath): number {
    assertPath(prefix);
    if (prefix.length <= TRIE_ACCUMULATED_NIBBLES) {
      return this.#counts?.[nodeOf(prefix)] ?? 0;
    }
    const bucket = this.#buckets[bucketOf(prefix)];
    if (bucket === undefined) return 0;
    const [lo, hi] = bucket.range(prefix);
    return hi - lo;
  }

  /**
   * The `FINGERPRINT_BYTES`-byte fingerprint of the ids starting with `prefix` — the same bytes
   * an `IdAccumulator` fed those ids gives, so the root fingerprint is the set fingerprint.
   * O(1) sha256 up to 4 nibbles; deeper prefixes also sum the matching ids of one bucket.
   */
  fingerprint(prefix: NibblePath): Uint8Array {
    assertPath(prefix);
    if (prefix.length <= TRIE_ACCUMULATED_NIBBLES) {
      if (this.#sums === null || this.#counts === null) {
        return fingerprintOf(new Uint32Array(LIMBS), 0, 0);
      }
      const node = nodeOf(prefix);
      return fingerprintOf(this.#sums, node * LIMBS, this.#counts[node]);
    }
    const sum = new Uint32Array(LIMBS);
    const bucket = this.#buckets[bucketOf(prefix)];
    if (bucket === undefined) return fingerprintOf(sum, 0, 0);
    const [lo, hi] = bucket.range(prefix);
    for (let i = lo; i < hi; i++) {
      readLimbs(bucket.ids, i * ID_BYTES, LIMBS_SCRATCH);
      addInto(sum, 0, LIMBS_SCRATCH);
    }
    return fingerprintOf(sum, 0, hi - lo);
  }

  /** The ids starting with `prefix`, ascending (copies). O(count + 16·depth) — check `count` first. */
  ids(prefix: NibblePath): Uint8Array[] {
    assertPath(prefix);
    const out: Uint8Array[] = [];
    this.#visit(prefix, Infinity, (ids, offset) => out.push(ids.slice(offset, offset + ID_BYTES)));
    return out;
  }

  /**
   * The entries whose id starts with the bytes `idPrefix` (0..32 bytes), ascending, at most `max`:
   * resolves the 16-byte id prefixes that reconciliation sends back to full ids and payloads.
   */
  lookup(idPrefix: Uint8Array, max: number): IdEntry<T>[] {
    if (idPrefix.length > ID_BYTES) {
      throw new RangeError(`Cannot look up an id prefix of ${idPrefix.length} bytes (max 32)`);
    }
    const out: IdEntry<T>[] = [];
    this.#visit(
      nibblePath(idPrefix),
      max,
      (ids, offset, value) => out.push({ id: ids.slice(offset, offset + ID_BYTES), value }),
    );
    return out;
  }

  /** Calls `fn` on up to `max` ids under `prefix` in ascending order, skipping empty subtrees. */
  #visit(prefix: NibblePath, max: number, fn: Visit<T>): void {
    let left = max;
    const emit = (bucket: Bucket<T>, lo: number, hi: number) => {
      for (let i = lo; i < hi && left > 0; i++, left--) {
        fn(bucket.ids, i * ID_BYTES, bucket.values[i]);
      }
    };
    if (prefix.length >= TRIE_ACCUMULATED_NIBBLES) {
      const bucket = this.#buckets[bucketOf(prefix)];
      if (bucket === undefined) return;
      const [lo, hi] = prefix.length === TRIE_ACCUMULATED_NIBBLES
        ? [0, bucket.length]
        : bucket.range(prefix);
      emit(bucket, lo, hi);
      return;
    }
    const counts = this.#counts;
    if (counts === null) return;
    const walk = (depth: number, index: number): void => {
      if (left <= 0 || counts[DEPTH_OFFSET[depth] + index] === 0) return;
      if (depth === TRIE_ACCUMULATED_NIBBLES) {
        const bucket = this.#buckets[index]!;
        emit(bucket, 0, bucket.length);
        return;
      }
      for (let c = 0; c < 16; c++) walk(depth + 1, index * 16 + c);
    };
    walk(prefix.length, nodeOf(prefix) - DEPTH_OFFSET[prefix.length]);
  }
}

/** The ids of one 2-byte prefix, sorted, packed 32 bytes apiece, with their payloads. */
class Bucket<T> {
  ids = new Uint8Array(BUCKET_IDS_INITIAL * ID_BYTES);
  readonly values: T[] = [];
  length = 0;

  /** Index of `id`, or `-(insertion point) - 1` when absent (ids here share bytes 0..1). */
  search(id: Uint8Array): number {
    let lo = 0, hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = compareFrom(this.ids, mid * ID_BYTES, id, 2);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -lo - 1;
  }

  insert(at: number, id: Uint8Array, value: T): void {
    if ((this.length + 1) * ID_BYTES > this.ids.length) {
      const grown = new Uint8Array(this.ids.length * 2);
      grown.set(this.ids);
      this.ids = grown;
    }
    this.ids.copyWithin((at + 1) * ID_BYTES, at * ID_BYTES, this.length * ID_BYTES);
    this.ids.set(id, at * ID_BYTES);
    const values = this.values;
    for (let k = this.length; k > at; k--) values[k] = values[k - 1];
    values[at] = value;
    this.length++;
  }

  /** `[lo, hi)`: the indices of the ids matching `prefix` (longer than 4 nibbles). */
  range(prefix: NibblePath): [number, number] {
    return [this.#bound(prefix, false), this.#bound(prefix, true)];
  }

  /** First index whose id's nibbles 4.. compare above `prefix` (`upper`) or not below it. */
  #bound(prefix: NibblePath, upper: boolean): number {
    let lo = 0, hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = comparePath(this.ids, mid * ID_BYTES, prefix);
      if (c < 0 || (upper && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function assertId(id: Uint8Array): void {
  if (!(id instanceof Uint8Array) || id.length !== ID_BYTES) {
    throw new RangeError(`An id must be ${ID_BYTES} bytes`);
  }
}

function assertPath(prefix: NibblePath): void {
  if (prefix.length > ID_NIBBLES) {
    throw new RangeError(`Cannot use a prefix of ${prefix.length} nibbles (max ${ID_NIBBLES})`);
  }
  for (let i = 0; i < prefix.length; i++) {
    const n = prefix[i];
    if (!Number.isInteger(n) || n < 0 || n > 15) {
      throw new RangeError(`Cannot use a prefix with nibble ${n} at ${i}`);
    }
  }
}

/** Accumulator node of a path of at most 4 nibbles. */
function nodeOf(prefix: NibblePath): number {
  let index = 0;
  for (let i = 0; i < prefix.length; i++) index = index * 16 + prefix[i];
  return DEPTH_OFFSET[prefix.length] + index;
}

/** Bucket of a path of at least 4 nibbles. */
function bucketOf(prefix: NibblePath): number {
  return (prefix[0] << 12) | (prefix[1] << 8) | (prefix[2] << 4) | prefix[3];
}

/** Compares the packed id at `offset` with `id`, bytes `from`..31. */
function compareFrom(ids: Uint8Array, offset: number, id: Uint8Array, from: number): number {
  for (let k = from; k < ID_BYTES; k++) {
    const d = ids[offset + k] - id[k];
    if (d !== 0) return d;
  }
  return 0;
}

/** Compares nibbles 4..prefix.length of the packed id at `offset` with `prefix`. */
function comparePath(ids: Uint8Array, offset: number, prefix: NibblePath): number {
  for (let k = TRIE_ACCUMULATED_NIBBLES; k < prefix.length; k++) {
    const byte = ids[offset + (k >> 1)];
    const d = ((k & 1) === 0 ? byte >> 4 : byte & 15) - prefix[k];
    if (d !== 0) return d;
  }
  return 0;
}

/** The id at bytes[offset..offset+32) as 8 little-endian 32-bit limbs, into `out`. */
function readLimbs(bytes: Uint8Array, offset: number, out: Uint32Array): void {
  for (let k = 0, j = offset; k < LIMBS; k++, j += 4) {
    out[k] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
  }
}

/** sums[at..at+8) += limbs, mod 2^256. */
function addInto(sums: Uint32Array, at: number, limbs: Uint32Array): void {
  let carry = 0;
  for (let k = 0; k < LIMBS; k++) {
    const s = sums[at + k] + limbs[k] + carry;
    carry = s > 0xffff_ffff ? 1 : 0;
    sums[at + k] = carry === 1 ? s - 0x1_0000_0000 : s;
  }
}

/** sha256(sum as 32 little-endian bytes || varint(count)), first FINGERPRINT_BYTES. */
function fingerprintOf(sums: Uint32Array, at: number, count: number): Uint8Array {
  const varint = encodeVarint(count);
  const input = new Uint8Array(ID_BYTES + varint.length);
  for (let k = 0; k < LIMBS; k++) {
    const limb = sums[at + k];
    input[4 * k] = limb & 255;
    input[4 * k + 1] = (limb >>> 8) & 255;
    input[4 * k + 2] = (limb >>> 16) & 255;
    input[4 * k + 3] = limb >>> 24;
  }
  input.set(varint, ID_BYTES);
  return sha256(input).slice(0, FINGERPRINT_BYTES);
}
