/**
 * Where `IdTrie` leaves keep their records (an id and its payload code each): a few large byte
 * slabs instead of one ArrayBuffer per leaf. A leaf that grows moves to a larger block and its old
 * block goes to a free list of its size for the next leaf growing into that size; when the free
 * blocks add up to more than a quarter of what leaves hold, `compact` slides every block down
 * over the free ones (in place, slab by slab) and drops the slabs left empty.
 *
 * Why (issue 14): with one ArrayBuffer a leaf, 2M ids took ~65,536 buffers that were reallocated
 * ~6 times each while the index caught up: a JS wrapper of ~150 bytes each time, and a malloc heap
 * that kept ~65 MB beyond the live ~80 MB (freed chunks between live ones). Slabs of 1 MiB and
 * more are mapped on their own and given back whole.
 */

/** Bytes of one record: a 32-byte id, then its 32-bit little-endian payload code. */
export const RECORD_BYTES = 36;
/** Block sizes are multiples of this many records. */
export const BLOCK_RECORDS = 4;
/** Records of an arena's first slab (9 KiB): small tries stay small. */
export const SLAB_RECORDS_MIN = 256;
/** Records of the largest slab (1.1 MiB); each new slab doubles the last up to this. */
export const SLAB_RECORDS_MAX = 32_768;
/** Fewest free records before an arena counts as wasteful (so small tries never compact). */
const WASTE_RECORDS_MIN = 4_096;

if (SLAB_RECORDS_MAX % BLOCK_RECORDS !== 0 || SLAB_RECORDS_MIN % BLOCK_RECORDS !== 0) {
  throw new Error("Slab sizes must be whole blocks");
}

/** A block's slab and its first record, as one number: `slab * SLAB_RECORDS_MAX + record`. */
export type Address = number;

/** A block as its owner keeps it (a leaf): where it is, its size, the records in use. */
export interface Block {
  at: Address;
  ids: Uint8Array;
  base: number;
  capacity: number;
  readonly length: number;
}

/** Blocks of records in slabs; a block's address holds until `compact` slides it down. */
export class RecordArena {
  readonly slabs: Uint8Array[] = [];
  /** Next unused record of the last slab. */
  #top = 0;
  #slabRecords = SLAB_RECORDS_MIN;
  /** Per size in blocks: free block addresses. */
  readonly #free: Address[][] = [];
  #freeRecords = 0;
  #heldRecords = 0;

  /** Bytes of all slabs. */
  get bytes(): number {
    return this.slabs.reduce((sum, slab) => sum + slab.byteLength, 0);
  }

  /** True when free blocks exceed a quarter of the held records: time to compact. */
  get wasteful(): boolean {
    return this.#freeRecords > WASTE_RECORDS_MIN && this.#freeRecords * 4 > this.#heldRecords;
  }

  /** A block of `records` (a multiple of BLOCK_RECORDS, at most SLAB_RECORDS_MAX). */
  alloc(records: number): Address {
    const blocks = records / BLOCK_RECORDS;
    if (!Number.isInteger(blocks) || blocks < 1 || records > SLAB_RECORDS_MAX) {
      throw new RangeError(`Cannot allocate ${records} records`);
    }
    this.#heldRecords += records;
    const reused = this.#free[blocks]?.pop();
    if (reused !== undefined) {
      this.#freeRecords -= records;
      return reused;
    }
    let slab = this.slabs.length - 1;
    if (slab < 0 || this.#top + records > this.slabs[slab].length / RECORD_BYTES) {
      if (slab >= 0) this.#slabRecords = Math.min(SLAB_RECORDS_MAX, this.#slabRecords * 2);
      while (this.#slabRecords < records) this.#slabRecords *= 2;
      this.slabs.push(new Uint8Array(this.#slabRecords * RECORD_BYTES));
      this.#top = 0;
      slab++;
    }
    const at = slab * SLAB_RECORDS_MAX + this.#top;
    this.#top += records;
    return at;
  }

  /** Gives back the block at `at` of `records` (as allocated). */
  release(at: Address, records: number): void {
    (this.#free[records / BLOCK_RECORDS] ??= []).push(at);
    this.#freeRecords += records;
    this.#heldRecords -= records;
  }

  /**
   * Slides `blocks` (every block handed out and not freed) down over the free space, in address
   * order, each keeping room for one more record where it had it; drops the slabs left empty.
   * A block never moves up, so none is overwritten before it moved. Updates each block.
   */
  compact(blocks: Block[]): void {
    blocks.sort((a, b) => a.at - b.at);
    let slab = 0, top = 0, held = 0;
    for (const b of blocks) {
      const want = blocksOf(b.length + 1) * BLOCK_RECORDS;
      const records = Math.min(want, b.capacity);
      if (top + records > this.slabs[slab].length / RECORD_BYTES) [slab, top] = [slab + 1, 0];
      const to = this.slabs[slab],
        base = top * RECORD_BYTES,
        end = b.base + b.length * RECORD_BYTES;
      if (to === b.ids) to.copyWithin(base, b.base, end);
      else to.set(b.ids.subarray(b.base, end), base);
      [b.at, b.ids, b.base, b.capacity] = [slab * SLAB_RECORDS_MAX + top, to, base, records];
      top += records;
      held += records;
    }
    this.slabs.length = Math.min(this.slabs.length, slab + 1);
    this.#slabRecords = this.slabs.length === 0
      ? SLAB_RECORDS_MIN
      : this.slabs[this.slabs.length - 1].length / RECORD_BYTES;
    this.#top = top;
    this.#free.length = 0;
    this.#freeRecords = 0;
    this.#heldRecords = held;
  }

  /** The slab holding the block at `at`. */
  slabOf(at: Address): Uint8Array {
    return this.slabs[Math.floor(at / SLAB_RECORDS_MAX)];
  }
}

/** Byte offset of the block at `at` within its slab. */
export function baseOf(at: Address): number {
  return (at % SLAB_RECORDS_MAX) * RECORD_BYTES;
}

/** Blocks needed for `records`. */
export function blocksOf(records: number): number {
  return Math.ceil(records / BLOCK_RECORDS);
}
