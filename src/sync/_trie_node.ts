/**
 * The nodes of `IdTrie` below its accumulated top levels: a node is a sorted leaf of at most
 * `TRIE_LEAF_IDS_MAX` ids or, once a leaf outgrows that, an inner node with 16 children (one a
 * nibble) and a running sum and count. So inserting and fingerprinting cost O(depth + leaf)
 * however the ids cluster: ids ground to share a long prefix only deepen the path.
 */

/** Bytes in an id. */
export const ID_BYTES = 32;
/** Nibbles in an id: the deepest prefix names exactly one id. */
export const ID_NIBBLES = ID_BYTES * 2;
/**
 * Most ids one leaf holds before it splits into 16 by its next nibble. Hash ids put ~15 in each
 * of the 65,536 top leaves at 1M ids and ~230 at 15M, so honest sets keep the flat layout.
 */
export const TRIE_LEAF_IDS_MAX = 256;

import {
  type Address,
  baseOf,
  BLOCK_RECORDS,
  blocksOf,
  RECORD_BYTES,
  type RecordArena,
} from "./_record_arena.ts";

const LIMBS = ID_BYTES / 4;
/** 32-bit words of an id's check (`idCheck`). */
export const CHECK_WORDS = 2;
/** Ids a new leaf has room for; a full leaf grows by an eighth (at least a block). */
const LEAF_IDS_INITIAL = 8;

if (RECORD_BYTES !== ID_BYTES + 4) throw new Error("A record is an id and a 32-bit code");
/** Scratch limbs of the id being added or summed (the trie is single-threaded). */
const LIMBS_SCRATCH = new Uint32Array(LIMBS);

/** A path of nibbles (each 0..15, high nibble of a byte first), at most `ID_NIBBLES` long. */
export type NibblePath = ArrayLike<number>;

/**
 * Called on each id in order: the packed array holding it, the id's offset there (its 32 bytes
 * are `ids[offset..offset + 32)`; the next id is not necessarily right after), its payload code.
 */
export type Visit = (ids: Uint8Array, offset: number, code: number) => void;

/**
 * Ids under one prefix, sorted, packed `RECORD_BYTES` apiece (the id and its payload code) in a
 * block of the trie's `RecordArena` with about an eighth of it spare: ~40 bytes an id, no object
 * per id and no buffer per leaf. `ids` is the slab holding the block, which starts at `base`.
 */
export class Leaf {
  ids: Uint8Array;
  base: number;
  at: Address;
  capacity = LEAF_IDS_INITIAL;
  length = 0;
  /** XOR of the ids' checks, kept with `sum` (null at the top leaves). */
  readonly check: Uint32Array | null;
  /** Sum of the ids, kept below the accumulated levels only (null at the top leaves). */
  constructor(arena: RecordArena, readonly sum: Uint32Array | null) {
    this.check = sum === null ? null : new Uint32Array(CHECK_WORDS);
    this.at = arena.alloc(LEAF_IDS_INITIAL);
    this.ids = arena.slabOf(this.at);
    this.base = baseOf(this.at);
  }

  /** Moves the records to a new block of `capacity` records; frees the old one. */
  move(arena: RecordArena, capacity: number): void {
    const at = arena.alloc(capacity), slab = arena.slabOf(at), base = baseOf(at);
    slab.set(this.ids.subarray(this.base, this.base + this.length * RECORD_BYTES), base);
    arena.release(this.at, this.capacity);
    [this.at, this.ids, this.base, this.capacity] = [at, slab, base, capacity];
  }

  /** Gives its block back (the leaf was split). */
  release(arena: RecordArena): void {
    arena.release(this.at, this.capacity);
  }

  /** Index of `id`, or `-(insertion point) - 1` when absent (ids here share bytes 0..1). */
  search(id: Uint8Array): number {
    let lo = 0, hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = compareFrom(this.ids, this.base + mid * RECORD_BYTES, id, 2);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return -lo - 1;
  }

  /** The payload code of the id at index `i`. */
  code(i: number): number {
    const at = this.base + i * RECORD_BYTES + ID_BYTES, ids = this.ids;
    return (ids[at] | (ids[at + 1] << 8) | (ids[at + 2] << 16) | (ids[at + 3] << 24)) >>> 0;
  }

  /** Inserts at `at` (from `search`): O(length ≤ TRIE_LEAF_IDS_MAX + 1) bytes moved. */
  insert(arena: RecordArena, at: number, id: Uint8Array, code: number): void {
    if (this.length === this.capacity) {
      this.move(arena, blocksOf(this.length + 1 + (this.length >> 3)) * BLOCK_RECORDS);
    }
    const offset = this.base + at * RECORD_BYTES, ids = this.ids;
    ids.copyWithin(offset + RECORD_BYTES, offset, this.base + this.length * RECORD_BYTES);
    ids.set(id, offset);
    ids[offset + ID_BYTES] = code & 255;
    ids[offset + ID_BYTES + 1] = (code >>> 8) & 255;
    ids[offset + ID_BYTES + 2] = (code >>> 16) & 255;
    ids[offset + ID_BYTES + 3] = code >>> 24;
    this.length++;
    if (this.sum !== null) addId(this.sum, id, 0);
    if (this.check !== null) xorCheck(this.check, id, 0);
  }

  /** `[lo, hi)`: the indices of the ids matching `prefix` (compared from nibble `from`). */
  range(prefix: NibblePath, from: number): [number, number] {
    return [this.#bound(prefix, from, false), this.#bound(prefix, from, true)];
  }

  /** The sum of the ids at `[lo, hi)`. */
  sumOf(lo: number, hi: number): Uint32Array {
    const sum = new Uint32Array(LIMBS);
    for (let i = lo; i < hi; i++) addId(sum, this.ids, this.base + i * RECORD_BYTES);
    return sum;
  }

  /** The XOR of the checks of the ids at `[lo, hi)`. */
  checkOf(lo: number, hi: number): Uint32Array {
    const check = new Uint32Array(CHECK_WORDS);
    for (let i = lo; i < hi; i++) xorCheck(check, this.ids, this.base + i * RECORD_BYTES);
    return check;
  }

  #bound(prefix: NibblePath, from: number, upper: boolean): number {
    let lo = 0, hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = comparePath(this.ids, this.base + mid * RECORD_BYTES, prefix, from);
      if (c < 0 || (upper && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** A split leaf: 16 children by the nibble at its depth, and the sum and count under it. */
export class Inner {
  readonly children: (TrieNode | undefined)[] = new Array(16);
  readonly sum = new Uint32Array(LIMBS);
  readonly check = new Uint32Array(CHECK_WORDS);
  count = 0;
}

export type TrieNode = Leaf | Inner;

/** Ids under `node`, which sits at depth `depth` (nibbles). */
export function nodeCount(node: TrieNode): number {
  return node instanceof Inner ? node.count : node.length;
}

/**
 * Adds `id` (absent, checked by the caller) with payload code `code` under `node` at `depth`;
 * returns the node to keep in its place (a leaf that outgrew `TRIE_LEAF_IDS_MAX` comes back
 * split).
 */
export function insertUnder(
  arena: RecordArena,
  node: TrieNode,
  depth: number,
  id: Uint8Array,
  code: number,
): TrieNode {
  const top = node;
  let parent: Inner | null = null;
  for (; node instanceof Inner; depth++) {
    addId(node.sum, id, 0);
    xorCheck(node.check, id, 0);
    node.count++;
    parent = node;
    const c = nibbleAt(id, depth);
    node = node.children[c] ??= new Leaf(arena, new Uint32Array(LIMBS));
  }
  node.insert(arena, -node.search(id) - 1, id, code);
  if (node.length <= TRIE_LEAF_IDS_MAX || depth >= ID_NIBBLES) return top;
  const split = splitLeaf(arena, node, depth);
  if (parent === null) return split;
  parent.children[nibbleAt(id, depth - 1)] = split;
  return top;
}

/** A leaf at `depth` as an inner node of leaves, splitting again any child still too large. */
function splitLeaf(arena: RecordArena, leaf: Leaf, depth: number): Inner {
  const inner = new Inner();
  inner.count = leaf.length;
  inner.sum.set(leaf.sum ?? leaf.sumOf(0, leaf.length));
  inner.check.set(leaf.check ?? leaf.checkOf(0, leaf.length));
  for (let i = 0; i < leaf.length; i++) {
    const offset = leaf.base + i * RECORD_BYTES;
    const id = leaf.ids.subarray(offset, offset + ID_BYTES);
    const c = nibbleAt(id, depth);
    const child = (inner.children[c] ??= new Leaf(arena, new Uint32Array(LIMBS))) as Leaf;
    child.insert(arena, child.length, id, leaf.code(i));
  }
  leaf.release(arena);
  for (let c = 0; c < 16; c++) {
    const child = inner.children[c] as Leaf | undefined;
    if (child !== undefined && child.length > TRIE_LEAF_IDS_MAX && depth + 1 < ID_NIBBLES) {
      inner.children[c] = splitLeaf(arena, child, depth + 1);
    }
  }
  return inner;
}

/** Appends every leaf under `node` to `out`. */
export function leavesUnder(node: TrieNode, out: Leaf[]): Leaf[] {
  if (node instanceof Inner) {
    for (const child of node.children) if (child !== undefined) leavesUnder(child, out);
  } else out.push(node);
  return out;
}

/** The leaf holding `id` under `node`, or undefined. */
export function leafOf(node: TrieNode, depth: number, id: Uint8Array): Leaf | undefined {
  let at: TrieNode | undefined = node;
  for (; at instanceof Inner; depth++) at = at.children[nibbleAt(id, depth)];
  return at;
}

/**
 * Descends from `node` (at `depth`) along `prefix` to the node whose subtree is the prefix's
 * range, or to the leaf holding it. Returns the node and its depth, or undefined when empty.
 */
export function descend(
  node: TrieNode,
  depth: number,
  prefix: NibblePath,
): { node: TrieNode; depth: number } | undefined {
  let at: TrieNode | undefined = node;
  while (at instanceof Inner && depth < prefix.length) at = at.children[prefix[depth++]];
  return at === undefined ? undefined : { node: at, depth };
}

/** Calls `fn` on up to `left` ids of `node`'s subtree at `[lo, hi)` of a leaf; returns what's left. */
export function visitNode(node: TrieNode, left: number, fn: Visit, lo = 0, hi = -1): number {
  if (node instanceof Inner) {
    for (let c = 0; c < 16 && left > 0; c++) {
      const child = node.children[c];
      if (child !== undefined) left = visitNode(child, left, fn);
    }
    return left;
  }
  const end = hi < 0 ? node.length : hi;
  for (let i = lo; i < end && left > 0; i++, left--) {
    fn(node.ids, node.base + i * RECORD_BYTES, node.code(i));
  }
  return left;
}

/** Nibble `k` of `id`. */
export function nibbleAt(id: Uint8Array, k: number): number {
  const byte = id[k >> 1];
  return (k & 1) === 0 ? byte >> 4 : byte & 15;
}

/** sums[at..at+8) += the id at bytes[offset..offset+32), mod 2^256. */
export function addId(sums: Uint32Array, bytes: Uint8Array, offset: number, at = 0): void {
  const limbs = LIMBS_SCRATCH;
  for (let k = 0, j = offset; k < LIMBS; k++, j += 4) {
    limbs[k] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
  }
  let carry = 0;
  for (let k = 0; k < LIMBS; k++) {
    const s = sums[at + k] + limbs[k] + carry;
    carry = s > 0xffff_ffff ? 1 : 0;
    sums[at + k] = carry === 1 ? s - 0x1_0000_0000 : s;
  }
}

/**
 * An id's check: two MurmurHash3 (x86, 32-bit) digests of its first 16 bytes, seeds 0 and
 * `CHECK_SEED_HIGH`, written to `out[at]`, `out[at + 1]`. Ranges keep the XOR of their ids'
 * checks, so a range that differs by exactly one id tells which (see `src/sync/_cell.ts`).
 */
export function idCheck(bytes: Uint8Array, offset: number, out: Uint32Array, at = 0): void {
  const w0 = word(bytes, offset), w1 = word(bytes, offset + 4);
  const w2 = word(bytes, offset + 8), w3 = word(bytes, offset + 12);
  out[at] = murmur4(w0, w1, w2, w3, 0);
  out[at + 1] = murmur4(w0, w1, w2, w3, CHECK_SEED_HIGH);
}

/** Seed of the check's second word. */
export const CHECK_SEED_HIGH = 0x9747b28c;
const CHECK_SCRATCH = new Uint32Array(CHECK_WORDS);

/** check[at..at+2) ^= the check of the id at bytes[offset..offset+16). */
export function xorCheck(check: Uint32Array, bytes: Uint8Array, offset: number, at = 0): void {
  idCheck(bytes, offset, CHECK_SCRATCH);
  check[at] ^= CHECK_SCRATCH[0];
  check[at + 1] ^= CHECK_SCRATCH[1];
}

function word(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
}

/** MurmurHash3_x86_32 of the 16 bytes whose little-endian words are w0..w3. */
function murmur4(w0: number, w1: number, w2: number, w3: number, seed: number): number {
  let h = murmurRound(seed, w0);
  h = murmurRound(h, w1);
  h = murmurRound(h, w2);
  h = murmurRound(h, w3);
  return murmurFinal(h, 16);
}

/** One MurmurHash3_x86_32 block step: mixes the 32-bit word `k` into `h`. */
export function murmurRound(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3_x86_32's finalisation of `h` after `length` bytes. */
export function murmurFinal(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Compares the packed id at `offset` with `id`, bytes `from`..31. */
function compareFrom(ids: Uint8Array, offset: number, id: Uint8Array, from: number): number {
  for (let k = from; k < ID_BYTES; k++) {
    const d = ids[offset + k] - id[k];
    if (d !== 0) return d;
  }
  return 0;
}

/** Compares nibbles from..prefix.length of the packed id at `offset` with `prefix`. */
function comparePath(ids: Uint8Array, offset: number, prefix: NibblePath, from: number): number {
  for (let k = from; k < prefix.length; k++) {
    const byte = ids[offset + (k >> 1)];
    const d = ((k & 1) === 0 ? byte >> 4 : byte & 15) - prefix[k];
    if (d !== 0) return d;
  }
  return 0;
}
