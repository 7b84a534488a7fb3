/**
 * Cells of frame version 2 (`_cell_frame.ts`): a range of the id space named by a bit prefix,
 * summarised as its count, the sum of its ids (mod 2^256, as `IdAccumulator` sums them) and the
 * XOR of their checks (`idCheck`). Both sides read these from their `IdTrie` in O(1) for ranges
 * of at most 16 bits (O(depth + leaf) below), so a cell costs the same as a fingerprint.
 *
 * A cell is a coded symbol: where the two sides' cells differ by exactly one id, the difference
 * of the sums is that id (its first 16 bytes) and the check says so — a cell holding three
 * differences that happen to net to one id fails the check but with probability 2^-64.
 * Private to `src/sync/`.
 */
import { CHECK_WORDS, ID_BYTES, idCheck, type IdTrie } from "./id_trie.ts";
import { murmurFinal, murmurRound } from "./_trie_node.ts";

/** Bytes of an id a cell's sum and check cover (the rest is not sent). */
export const CELL_ID_BYTES = 16;
/** Deepest bit prefix a v2 range may name (a path of 255 bits is one id or none). */
export const CELL_BITS_MAX = 255;
const LIMBS = ID_BYTES / 4;

/** A range's count, sum (8 little-endian limbs) and check (2 words). */
export interface Cell {
  count: number;
  readonly sum: Uint32Array;
  readonly check: Uint32Array;
}

export function newCell(): Cell {
  return { count: 0, sum: new Uint32Array(LIMBS), check: new Uint32Array(CHECK_WORDS) };
}

const NIBBLES = new Uint8Array(64);
const PART = newCell();

/**
 * Writes the cell of the ids starting with the first `bits` bits of `path` (bytes, high bit
 * first) into `out`: one trie node, or the 2..8 nodes one nibble deeper when `bits` is not a
 * multiple of 4.
 */
export function cellAt<T>(trie: IdTrie<T>, path: Uint8Array, bits: number, out: Cell): Cell {
  const whole = bits >> 2, rest = bits & 3;
  for (let i = 0; i < whole; i++) {
    const byte = path[i >> 1];
    NIBBLES[i] = (i & 1) === 0 ? byte >> 4 : byte & 15;
  }
  if (rest === 0) {
    out.count = trie.cell(NIBBLES.subarray(0, whole), out.sum, out.check);
    return out;
  }
  const byte = path[whole >> 1];
  const nibble = (whole & 1) === 0 ? byte >> 4 : byte & 15;
  const free = 4 - rest;
  const first = (nibble >> free) << free;
  out.count = 0;
  out.sum.fill(0);
  out.check.fill(0);
  const child = NIBBLES.subarray(0, whole + 1);
  for (let c = first; c < first + (1 << free); c++) {
    NIBBLES[whole] = c;
    PART.count = trie.cell(child, PART.sum, PART.check);
    if (PART.count === 0) continue;
    out.count += PART.count;
    addLimbs(out.sum, PART.sum);
    out.check[0] ^= PART.check[0];
    out.check[1] ^= PART.check[1];
  }
  return out;
}

/** The cells of some sub-cells of one range, in parallel arrays (index k = k-th asked). */
export interface SubCells {
  readonly count: Uint32Array;
  /** 8 limbs a cell. */
  readonly sum: Uint32Array;
  /** 2 words a cell. */
  readonly check: Uint32Array;
}

/** Walk the ids rather than read each sub-cell when there are at most this many per sub-cell. */
const WALK_IDS_PER_CELL_MAX = 16;
/** Ranges at most this deep (bits) read every node in O(1): no walk needed. */
const ACCUMULATED_BITS = 16;

/**
 * The cells of the sub-cells `cells` (ascending indices) of the range `path`/`bits` split by
 * `split` bits. Below the trie's accumulated levels, when the range holds few ids per sub-cell,
 * one walk over its ids fills them all (one check each); otherwise each is read on its own.
 */
export function subCells<T>(
  trie: IdTrie<T>,
  path: Uint8Array,
  bits: number,
  split: number,
  cells: readonly number[],
): SubCells {
  const n = cells.length;
  const out = {
    count: new Uint32Array(n),
    sum: new Uint32Array(n * LIMBS),
    check: new Uint32Array(n * CHECK_WORDS),
  };
  const deep = bits + split > ACCUMULATED_BITS;
  const total = deep ? cellAt(trie, path, bits, newCell()).count : Infinity;
  if (deep && split <= 24 && total <= WALK_IDS_PER_CELL_MAX * n) {
    walkCells(trie, path, bits, split, cells, out);
    return out;
  }
  const cell = newCell(), sub = new Uint8Array(ID_BYTES);
  cells.forEach((j, k) => {
    cellAt(trie, subPathInto(sub, path, bits, split, j), bits + split, cell);
    out.count[k] = cell.count;
    out.sum.set(cell.sum, k * LIMBS);
    out.check.set(cell.check, k * CHECK_WORDS);
  });
  return out;
}

function walkCells<T>(
  trie: IdTrie<T>,
  path: Uint8Array,
  bits: number,
  split: number,
  cells: readonly number[],
  out: SubCells,
): void {
  const index = new Map<number, number>();
  cells.forEach((j, k) => index.set(j, k));
  const dense = cells.length === 2 ** split;
  forEachUnder(trie, path, bits, (ids, offset) => {
    let j = 0;
    for (let b = bits; b < bits + split; b++) {
      j = j * 2 + ((ids[offset + (b >> 3)] >> (7 - (b & 7))) & 1);
    }
    const k = dense ? j : index.get(j);
    if (k === undefined) return;
    out.count[k]++;
    addIdAt(out.sum, k * LIMBS, ids, offset);
    xorCheckAt(out.check, k * CHECK_WORDS, ids, offset);
  });
}

/** Calls `fn` on each id under a bit prefix, via the 1..8 nibble ranges it spans. */
export function forEachUnder<T>(
  trie: IdTrie<T>,
  path: Uint8Array,
  bits: number,
  fn: (ids: Uint8Array, offset: number) => void,
): void {
  const whole = bits >> 2, rest = bits & 3;
  const nibbles = new Uint8Array(whole + (rest === 0 ? 0 : 1));
  for (let i = 0; i < whole; i++) {
    nibbles[i] = (i & 1) === 0 ? path[i >> 1] >> 4 : path[i >> 1] & 15;
  }
  if (rest === 0) return trie.forEachId(nibbles, fn);
  const nibble = (whole & 1) === 0 ? path[whole >> 1] >> 4 : path[whole >> 1] & 15;
  const first = (nibble >> (4 - rest)) << (4 - rest);
  for (let c = first; c < first + (1 << (4 - rest)); c++) {
    nibbles[whole] = c;
    trie.forEachId(nibbles, fn);
  }
}

/** Writes into `out` (32 bytes) the path of sub-cell `j` of the range `path`/`bits`. */
export function subPathInto(
  out: Uint8Array,
  path: Uint8Array,
  bits: number,
  split: number,
  j: number,
): Uint8Array {
  out.fill(0);
  out.set(path.subarray(0, (bits + 7) >> 3));
  const spare = (8 - (bits & 7)) & 7;
  if (spare !== 0) out[bits >> 3] &= (0xff << spare) & 255;
  for (let k = 0; k < split; k++) {
    if (((j >>> (split - 1 - k)) & 1) === 0) continue;
    const at = bits + k;
    out[at >> 3] |= 0x80 >> (at & 7);
  }
  return out;
}

function addIdAt(sum: Uint32Array, at: number, ids: Uint8Array, offset: number): void {
  let carry = 0;
  for (let k = 0, j = offset; k < LIMBS; k++, j += 4) {
    const limb = (ids[j] | (ids[j + 1] << 8) | (ids[j + 2] << 16) | (ids[j + 3] << 24)) >>> 0;
    const s = sum[at + k] + limb + carry;
    carry = s > 0xffff_ffff ? 1 : 0;
    sum[at + k] = s >>> 0;
  }
}

const CHECK_PART = new Uint32Array(CHECK_WORDS);

function xorCheckAt(check: Uint32Array, at: number, ids: Uint8Array, offset: number): void {
  idCheck(ids, offset, CHECK_PART);
  check[at] ^= CHECK_PART[0];
  check[at + 1] ^= CHECK_PART[1];
}

/** The salted fingerprint of sub-cell `k` of `cells` (as `cellFingerprint`). */
export function subCellFingerprint(salt: Uint32Array, cells: SubCells, k: number): number {
  let h = murmurRound(salt[0], salt[1]);
  h = murmurRound(h, cells.count[k]);
  for (let l = 0; l < LIMBS; l++) h = murmurRound(h, cells.sum[k * LIMBS + l]);
  h = murmurRound(h, cells.check[k * CHECK_WORDS]);
  h = murmurRound(h, cells.check[k * CHECK_WORDS + 1]);
  return murmurFinal(h, 48);
}

/** Sub-cell `k` of `cells` as a `Cell` (copies). */
export function cellOf(cells: SubCells, k: number): Cell {
  return {
    count: cells.count[k],
    sum: cells.sum.slice(k * LIMBS, (k + 1) * LIMBS),
    check: cells.check.slice(k * CHECK_WORDS, (k + 1) * CHECK_WORDS),
  };
}

/** a += b mod 2^256, limbs little-endian. */
export function addLimbs(a: Uint32Array, b: Uint32Array): void {
  let carry = 0;
  for (let k = 0; k < LIMBS; k++) {
    const s = a[k] + b[k] + carry;
    carry = s > 0xffff_ffff ? 1 : 0;
    a[k] = s >>> 0;
  }
}

/**
 * The salted 4-byte fingerprint of a cell: MurmurHash3_x86_32, seeded with the salt's first
 * word, of the 48 bytes salt word 1 ‖ count ‖ sum (8 limbs) ‖ check (2 words), each a
 * little-endian 32-bit word. The client draws the salt per session, so no one can grind ids
 * into a collision ahead of time; two different cells collide with probability about 2^-32.
 */
export function cellFingerprint(salt: Uint32Array, cell: Cell): number {
  let h = murmurRound(salt[0], salt[1]);
  h = murmurRound(h, cell.count);
  for (let k = 0; k < LIMBS; k++) h = murmurRound(h, cell.sum[k]);
  h = murmurRound(h, cell.check[0]);
  h = murmurRound(h, cell.check[1]);
  return murmurFinal(h, 48);
}

/** The salt's two words, from its 8 bytes. */
export function saltWords(salt: Uint8Array): Uint32Array {
  const view = new DataView(salt.buffer, salt.byteOffset, 8);
  return Uint32Array.of(view.getUint32(0, true), view.getUint32(4, true));
}

/** The first 16 bytes of a cell's sum (the sum of the ids' first 16 bytes, mod 2^128). */
export function sum16(cell: Cell): Uint8Array {
  const out = new Uint8Array(CELL_ID_BYTES);
  for (let k = 0; k < CELL_ID_BYTES / 4; k++) {
    const limb = cell.sum[k];
    out[4 * k] = limb & 255;
    out[4 * k + 1] = (limb >>> 8) & 255;
    out[4 * k + 2] = (limb >>> 16) & 255;
    out[4 * k + 3] = limb >>> 24;
  }
  return out;
}

/**
 * The low `known` bytes of the 16-byte sum of `count` ids that all start with `path`'s first
 * `known` bytes: (count × prefix) mod 256^known, prefix read little-endian. Frames leave them out.
 */
export function knownSumBytes(path: Uint8Array, known: number, count: number): Uint8Array {
  const out = new Uint8Array(known);
  let carry = 0;
  for (let i = 0; i < known; i++) {
    const v = count * path[i] + carry;
    out[i] = v % 256;
    carry = Math.floor(v / 256);
  }
  return out;
}

/** How many leading bytes of its ids a cell `bits` deep fixes (at most 16). */
export function knownBytes(bits: number): number {
  return Math.min(bits >> 3, CELL_ID_BYTES);
}

/**
 * The one id (first 16 bytes) by which `theirs` exceeds `mine` (`sign` 1) or `mine` exceeds
 * `theirs` (`sign` -1), when the counts differ by exactly that and the checks agree; else null.
 */
export function pureId(
  theirs: { count: number; sum16: Uint8Array; check: Uint32Array },
  mine: Cell,
): { sign: 1 | -1; id16: Uint8Array } | null {
  const delta = theirs.count - mine.count;
  if (delta !== 1 && delta !== -1) return null;
  const own = sum16(mine);
  const [a, b] = delta === 1 ? [theirs.sum16, own] : [own, theirs.sum16];
  const id16 = new Uint8Array(CELL_ID_BYTES);
  let borrow = 0;
  for (let i = 0; i < CELL_ID_BYTES; i++) {
    const d = a[i] - b[i] - borrow;
    borrow = d < 0 ? 1 : 0;
    id16[i] = d & 255;
  }
  const check = new Uint32Array(CHECK_WORDS);
  idCheck(id16, 0, check);
  const ok = check[0] === ((theirs.check[0] ^ mine.check[0]) >>> 0) &&
    check[1] === ((theirs.check[1] ^ mine.check[1]) >>> 0);
  return ok ? { sign: delta, id16 } : null;
}

/** Whether the first `bits` bits of `id` are those of `path`. */
export function inPrefix(id: Uint8Array, path: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (id[i] !== path[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff00 >> rest) & 255;
  return (id[whole] & mask) === (path[whole] & mask);
}

/** A range's bit prefix as a string of 0s and 1s (for ordering and nesting checks). */
export function bitKey(path: Uint8Array, bits: number): string {
  let key = "";
  for (let i = 0; i < bits; i++) key += (path[i >> 3] >> (7 - (i & 7))) & 1;
  return key;
}

/**
 * Both differences of two ascending id lists compared on their first `width` bytes: ids of
 * `mine` (full) that `theirs` lacks, and ids of `theirs` that `mine` lacks. Several of mine
 * under one prefix of theirs all match it.
 */
export function diffLists(
  mine: readonly Uint8Array[],
  theirs: readonly Uint8Array[],
  width: number,
): { mineOnly: Uint8Array[]; theirsOnly: Uint8Array[] } {
  const mineOnly: Uint8Array[] = [], theirsOnly: Uint8Array[] = [];
  let i = 0, j = 0, matched = false;
  while (i < mine.length || j < theirs.length) {
    const c = i === mine.length
      ? 1
      : j === theirs.length
      ? -1
      : compareTo(mine[i], theirs[j], width);
    if (c < 0) mineOnly.push(mine[i++]);
    else if (c === 0) (i++, matched = true);
    else {
      if (!matched) theirsOnly.push(theirs[j]);
      j++;
      matched = false;
    }
  }
  return { mineOnly, theirsOnly };
}

function compareTo(a: Uint8Array, b: Uint8Array, width: number): number {
  for (let k = 0; k < width; k++) if (a[k] !== b[k]) return a[k] - b[k];
  return 0;
}
