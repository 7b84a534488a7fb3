/**
 * A set of 32-byte ids, each with a small payload (the region keeps the delta's channel), shaped
 * for range-based set reconciliation (`range_reconcile.ts`): a 16-way trie over the ids' hex
 * nibbles, where a range is a nibble-path prefix and its fingerprint is the `IdAccumulator`
 * fingerprint of the ids under it.
 *
 * Layout, chosen so that 1,000,000 ids load in ~2 s and take ~40 bytes an id (32 of them the id):
 * - every node at depths 0..4 (1 + 16 + 256 + 4,096 + 65,536 nodes) keeps a running 256-bit sum
 *   and a count in two typed arrays (2.5 MB, allocated on the first insert), so the fingerprint
 *   of any prefix of at most 4 nibbles is one sha256 and inserting touches 5 sums;
 * - the ids themselves live under 65,536 top nodes, one per 2-byte prefix: each a sorted packed
 *   leaf (≈15 ids at 1M) until it holds more than `TRIE_LEAF_IDS_MAX`, when it splits into 16 by
 *   the next nibble, with a running sum and count per split node (`_trie_node.ts`);
 * - a payload is kept as a 32-bit code beside its id, not as a reference per id: `PayloadCodes`
 *   turns payloads into codes and back (by default each distinct payload is interned once, as the
 *   region's few thousand channel names are);
 * - leaves keep their ids and codes in blocks of a few large slabs (`_record_arena.ts`), not in a
 *   buffer each: no object or allocation per id, none per leaf that grows, and what leaves grew
 *   out of is reclaimed by compaction.
 *
 * So inserting and fingerprinting any prefix cost O(depth + `TRIE_LEAF_IDS_MAX`) however the ids
 * cluster: an author grinding bodies into one 2-byte prefix (65,536 hashes an id) only deepens
 * that path by a level for every 16× more ground ids (measured in bench/sync_dos.ts).
 */
import { sha256 } from "../crypto/sha256.ts";
import { encodeVarint, FINGERPRINT_BYTES } from "../protocol/fingerprint.ts";
import {
  addId,
  CHECK_WORDS,
  descend,
  ID_BYTES,
  ID_NIBBLES,
  Inner,
  insertUnder,
  Leaf,
  leafOf,
  leavesUnder,
  type NibblePath,
  nodeCount,
  type TrieNode,
  type Visit,
  visitNode,
  xorCheck,
} from "./_trie_node.ts";
import { RECORD_BYTES, RecordArena } from "./_record_arena.ts";

export {
  CHECK_WORDS,
  ID_BYTES,
  ID_NIBBLES,
  idCheck,
  type NibblePath,
  TRIE_LEAF_IDS_MAX,
} from "./_trie_node.ts";
/** Nibbles down to which every trie node keeps a running sum and count (16^4 leaf buckets). */
export const TRIE_ACCUMULATED_NIBBLES = 4;
/** Most ids one trie holds: counts are kept in 32-bit cells. */
export const ID_TRIE_IDS_MAX = 0xffff_ffff;

const LIMBS = ID_BYTES / 4;
const BUCKETS = 16 ** TRIE_ACCUMULATED_NIBBLES;
/** Index of the first node of each depth 0..4 in the accumulator arrays. */
const DEPTH_OFFSET = [0, 1, 17, 273, 4_369];
const NODES = 4_369 + BUCKETS;

if (DEPTH_OFFSET[TRIE_ACCUMULATED_NIBBLES] + BUCKETS !== NODES) {
  throw new Error("DEPTH_OFFSET must lay out 16^d nodes for every accumulated depth d");
}

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

/**
 * How an `IdTrie` keeps payloads: as 32-bit codes beside the ids. `code` is called once per id
 * added, `value` once per payload read back; `value(code(v))` must give `v` (or an equal value).
 */
export interface PayloadCodes<T> {
  code(value: T): number;
  value(code: number): T;
}

/** Most distinct payloads `internedPayloads()` keeps (a JavaScript Map holds at most 2^24). */
export const PAYLOADS_INTERNED_MAX = 1 << 23;

/**
 * Codes that intern payloads: each distinct payload (by `Map` key equality: strings by value) is
 * kept once, in a table the trie owns, and ids carry its index. For payloads of few distinct
 * values, such as the channel of each delta; adding more than `PAYLOADS_INTERNED_MAX` distinct
 * ones throws a RangeError (use `uint32Payloads` for unique numbers).
 */
export function internedPayloads<T>(): PayloadCodes<T> {
  const codes = new Map<T, number>();
  const values: T[] = [];
  return {
    code(value: T): number {
      let code = codes.get(value);
      if (code === undefined) {
        if (values.length >= PAYLOADS_INTERNED_MAX) {
          throw new RangeError(`Cannot intern more than ${PAYLOADS_INTERNED_MAX} payloads`);
        }
        code = values.push(value) - 1;
        codes.set(value, code);
      }
      return code;
    },
    value: (code: number): T => values[code],
  };
}

/** Payloads that are integers 0 to 2^32 - 1, kept as they are (no table). */
export const uint32Payloads: PayloadCodes<number> = {
  code(value: number): number {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
      throw new RangeError(`Cannot keep payload ${value}: it must be an integer 0 to 2^32 - 1`);
    }
    return value;
  },
  value: (code: number): number => code,
};

/** An id and its payload, as `IdTrie.lookup()` returns them. */
export interface IdEntry<T> {
  readonly id: Uint8Array;
  readonly value: T;
}

/** A set of 32-byte ids with a payload each, with O(1) fingerprints of short prefix ranges. */
export class IdTrie<T> {
  readonly #buckets: (TrieNode | undefined)[] = new Array(BUCKETS);
  readonly #payloads: PayloadCodes<T>;
  /** Where the leaves keep their ids (compacted when it grows wasteful). */
  readonly #arena = new RecordArena();
  /** Per node: the sum of its ids mod 2^256 as 8 little-endian 32-bit limbs. */
  #sums: Uint32Array | null = null;
  #counts: Uint32Array | null = null;
  /** Per node: the XOR of its ids' checks (`idCheck`), 2 words. */
  #checks: Uint32Array | null = null;
  #size = 0;

  /** `payloads`: how payloads are kept (default `internedPayloads()`: one table entry each). */
  constructor(payloads: PayloadCodes<T> = internedPayloads<T>()) {
    this.#payloads = payloads;
  }

  /** How many ids the trie holds. */
  get size(): number {
    return this.#size;
  }

  /** Adds `id` with its payload; false (and the old payload kept) if the id is already present. */
  add(id: Uint8Array, value: T): boolean {
    assertId(id);
    const b = (id[0] << 8) | id[1];
    const bucket = this.#buckets[b] ??= new Leaf(this.#arena, null);
    const leaf = leafOf(bucket, TRIE_ACCUMULATED_NIBBLES, id);
    if (leaf !== undefined && leaf.search(id) >= 0) return false;
    if (this.#size >= ID_TRIE_IDS_MAX) throw new RangeError(`IdTrie holds ${ID_TRIE_IDS_MAX} ids`);
    const code = this.#payloads.code(value);
    this.#buckets[b] = insertUnder(this.#arena, bucket, TRIE_ACCUMULATED_NIBBLES, id, code);
    if (this.#arena.wasteful) this.compact();
    const sums = this.#sums ??= new Uint32Array(NODES * LIMBS);
    const counts = this.#counts ??= new Uint32Array(NODES);
    const checks = this.#checks ??= new Uint32Array(NODES * CHECK_WORDS);
    for (let depth = 0; depth <= TRIE_ACCUMULATED_NIBBLES; depth++) {
      const node = DEPTH_OFFSET[depth] + (b >> (16 - 4 * depth));
      addId(sums, id, 0, node * LIMBS);
      xorCheck(checks, id, 0, node * CHECK_WORDS);
      counts[node]++;
    }
    this.#size++;
    return true;
  }

  /**
   * Slides the leaves' blocks over the blocks they grew out of, leaving each room for one more
   * id, and frees the slabs left empty. Runs by itself when the freed blocks outweigh a quarter
   * of the held ones; call it after a bulk load to drop the rest. O(ids), ~35 ms for 2M ids.
   */
  compact(): void {
    const leaves: Leaf[] = [];
    for (const bucket of this.#buckets) if (bucket !== undefined) leavesUnder(bucket, leaves);
    this.#arena.compact(leaves);
  }

  /** Whether `id` is in the trie. */
  has(id: Uint8Array): boolean {
    return this.#find(id) !== undefined;
  }

  /** The payload stored with `id`, or undefined when absent. */
  get(id: Uint8Array): T | undefined {
    const found = this.#find(id);
    return found === undefined ? undefined : this.#payloads.value(found.leaf.code(found.at));
  }

  #find(id: Uint8Array): { leaf: Leaf; at: number } | undefined {
    assertId(id);
    const bucket = this.#buckets[(id[0] << 8) | id[1]];
    const leaf = bucket === undefined ? undefined : leafOf(bucket, TRIE_ACCUMULATED_NIBBLES, id);
    const at = leaf?.search(id) ?? -1;
    return at >= 0 ? { leaf: leaf!, at } : undefined;
  }

  /**
   * How many ids start with the nibble path `prefix`: O(1) up to 4 nibbles, O(depth) below
   * (plus a binary search in a leaf of at most `TRIE_LEAF_IDS_MAX`).
   */
  count(prefix: NibblePath): number {
    assertPath(prefix);
    if (prefix.length <= TRIE_ACCUMULATED_NIBBLES) {
      return this.#counts?.[nodeOf(prefix)] ?? 0;
    }
    const found = this.#descend(prefix);
    if (found === undefined) return 0;
    if (found.node instanceof Inner || found.depth === prefix.length) return nodeCount(found.node);
    const [lo, hi] = found.node.range(prefix, found.depth);
    return hi - lo;
  }

  /**
   * The `FINGERPRINT_BYTES`-byte fingerprint of the ids starting with `prefix` — the same bytes
   * an `IdAccumulator` fed those ids gives, so the root fingerprint is the set fingerprint.
   * One sha256 and O(depth) steps, plus a sum over at most `TRIE_LEAF_IDS_MAX` ids of one leaf.
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
    const found = this.#descend(prefix);
    if (found === undefined) return fingerprintOf(new Uint32Array(LIMBS), 0, 0);
    const { node, depth } = found;
    if (node instanceof Inner) return fingerprintOf(node.sum, 0, node.count);
    const [lo, hi] = depth === prefix.length && node.sum !== null
      ? [0, node.length]
      : node.range(prefix, depth);
    const whole = lo === 0 && hi === node.length && node.sum !== null;
    return fingerprintOf(whole ? node.sum! : node.sumOf(lo, hi), 0, hi - lo);
  }

  /**
   * The raw accumulators of the range `prefix`: writes the sum of its ids (8 little-endian
   * 32-bit limbs, mod 2^256) to `sum` and the XOR of their checks (`idCheck`) to `check`, and
   * returns how many ids it holds. O(1) up to 4 nibbles; O(depth + `TRIE_LEAF_IDS_MAX`) below.
   */
  cell(prefix: NibblePath, sum: Uint32Array, check: Uint32Array): number {
    if (prefix.length <= TRIE_ACCUMULATED_NIBBLES) {
      if (this.#sums === null || this.#counts === null || this.#checks === null) {
        sum.fill(0);
        check.fill(0);
        return 0;
      }
      const node = nodeOf(prefix);
      sum.set(this.#sums.subarray(node * LIMBS, (node + 1) * LIMBS));
      check.set(this.#checks.subarray(node * CHECK_WORDS, (node + 1) * CHECK_WORDS));
      return this.#counts[node];
    }
    const found = this.#descend(prefix);
    if (found === undefined) {
      sum.fill(0);
      check.fill(0);
      return 0;
    }
    const { node, depth } = found;
    if (node instanceof Inner) {
      sum.set(node.sum);
      check.set(node.check);
      return node.count;
    }
    const [lo, hi] = depth === prefix.length ? [0, node.length] : node.range(prefix, depth);
    const whole = lo === 0 && hi === node.length && node.sum !== null && node.check !== null;
    sum.set(whole ? node.sum! : node.sumOf(lo, hi));
    check.set(whole ? node.check! : node.checkOf(lo, hi));
    return hi - lo;
  }

  /** The node of a prefix longer than 4 nibbles, or the leaf holding its range. */
  #descend(prefix: NibblePath) {
    const bucket = this.#buckets[bucketOf(prefix)];
    return bucket === undefined ? undefined : descend(bucket, TRIE_ACCUMULATED_NIBBLES, prefix);
  }

  /**
   * How the ids are laid out, for tests and benchmarks: leaves, the most ids in one leaf (what
   * an insert moves and a deep fingerprint sums, at most `TRIE_LEAF_IDS_MAX`), the deepest leaf,
   * the bytes the leaves' blocks take (ids, payload codes and spare room), the bytes of the arena
   * holding them (blocks, free blocks, unused slab ends).
   * O(nodes).
   */
  shape(): {
    leaves: number;
    leafIdsMax: number;
    depthMax: number;
    leafBytes: number;
    arenaBytes: number;
  } {
    const out = { leaves: 0, leafIdsMax: 0, depthMax: 0, leafBytes: 0, arenaBytes: 0 };
    const walk = (node: TrieNode, depth: number): void => {
      if (node instanceof Inner) {
        for (const child of node.children) if (child !== undefined) walk(child, depth + 1);
        return;
      }
      out.leaves++;
      out.leafBytes += node.capacity * RECORD_BYTES;
      out.leafIdsMax = Math.max(out.leafIdsMax, node.length);
      out.depthMax = Math.max(out.depthMax, depth);
    };
    for (const bucket of this.#buckets) if (bucket !== undefined) walk(bucket, 4);
    out.arenaBytes = this.#arena.bytes;
    return out;
  }

  /** The ids starting with `prefix`, ascending (copies). O(count + 16·depth) — check `count` first. */
  ids(prefix: NibblePath): Uint8Array[] {
    assertPath(prefix);
    const out: Uint8Array[] = [];
    this.#visit(prefix, Infinity, (ids, offset) => out.push(ids.slice(offset, offset + ID_BYTES)));
    return out;
  }

  /**
   * Calls `fn` on every id starting with `prefix`, ascending, as the packed array holding it and
   * its offset there (no copies: read the 32 bytes at once). O(count + 16·depth).
   */
  forEachId(prefix: NibblePath, fn: (ids: Uint8Array, offset: number) => void): void {
    assertPath(prefix);
    this.#visit(prefix, Infinity, fn);
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
    const payloads = this.#payloads;
    this.#visit(nibblePath(idPrefix), max, (ids, offset, code) => {
      out.push({ id: ids.slice(offset, offset + ID_BYTES), value: payloads.value(code) });
    });
    return out;
  }

  /** Calls `fn` on up to `max` ids under `prefix` in ascending order, skipping empty subtrees. */
  #visit(prefix: NibblePath, max: number, fn: Visit): void {
    let left = max;
    if (prefix.length >= TRIE_ACCUMULATED_NIBBLES) {
      const found = this.#descend(prefix);
      if (found === undefined) return;
      const { node, depth } = found;
      if (node instanceof Inner || depth === prefix.length) visitNode(node, left, fn);
      else visitNode(node, left, fn, ...node.range(prefix, depth));
      return;
    }
    const counts = this.#counts;
    if (counts === null) return;
    const walk = (depth: number, index: number): void => {
      if (left <= 0 || counts[DEPTH_OFFSET[depth] + index] === 0) return;
      if (depth === TRIE_ACCUMULATED_NIBBLES) {
        left = visitNode(this.#buckets[index]!, left, fn);
        return;
      }
      for (let c = 0; c < 16; c++) walk(depth + 1, index * 16 + c);
    };
    walk(prefix.length, nodeOf(prefix) - DEPTH_OFFSET[prefix.length]);
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
