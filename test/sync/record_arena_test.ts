/**
 * RecordArena against a model: blocks allocated, grown (moved), freed and compacted in random
 * order keep their records byte for byte, never overlap, and compaction gives the space back.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  baseOf,
  type Block,
  BLOCK_RECORDS,
  RECORD_BYTES,
  RecordArena,
  SLAB_RECORDS_MAX,
  SLAB_RECORDS_MIN,
} from "../../src/sync/_record_arena.ts";

/** Largest block the operations below ask for, in records. */
const CAPACITY_MAX = 64;

interface Owned extends Block {
  length: number;
  /** What the block must hold: one byte value per record, repeated over the record. */
  fill: number[];
}

function place(arena: RecordArena, capacity: number): Pick<Block, "at" | "ids" | "base"> {
  const at = arena.alloc(capacity);
  return { at, ids: arena.slabOf(at), base: baseOf(at) };
}

function write(b: Owned, i: number, value: number): void {
  b.ids.fill(value, b.base + i * RECORD_BYTES, b.base + (i + 1) * RECORD_BYTES);
  b.fill[i] = value;
}

function assertHeld(blocks: readonly Owned[]): void {
  const used = new Map<Uint8Array, [number, number][]>();
  for (const b of blocks) {
    for (let i = 0; i < b.length; i++) {
      const at = b.base + i * RECORD_BYTES;
      assert.ok(b.ids.subarray(at, at + RECORD_BYTES).every((x) => x === b.fill[i]));
    }
    const spans = used.get(b.ids) ?? [];
    const span: [number, number] = [b.base, b.base + b.capacity * RECORD_BYTES];
    assert.ok(span[1] <= b.ids.length, "a block ends inside its slab");
    for (const [lo, hi] of spans) assert.ok(span[1] <= lo || span[0] >= hi, "blocks overlap");
    used.set(b.ids, [...spans, span]);
  }
}

const opArb = fc.oneof(
  fc.record({ kind: fc.constant("new" as const), records: fc.integer({ min: 1, max: 12 }) }),
  fc.record({
    kind: fc.constant("grow" as const),
    pick: fc.nat(),
    by: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("compact" as const) }),
);

Deno.test("RecordArena keeps every block's records through moves, frees and compaction", () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { minLength: 20, maxLength: 400, size: "max" }),
      fc.nat(255),
      (ops, seed) => {
        const arena = new RecordArena();
        let blocks: Owned[] = [];
        let value = seed;
        for (const op of ops) {
          if (op.kind === "new") {
            const capacity = Math.ceil(op.records / BLOCK_RECORDS) * BLOCK_RECORDS;
            const b: Owned = { ...place(arena, capacity), capacity, length: 0, fill: [] };
            for (let i = 0; i < op.records; i++) write(b, b.length++, ++value & 255);
            blocks.push(b);
          } else if (op.kind === "grow" && blocks.length > 0) {
            const b = blocks[op.pick % blocks.length];
            const capacity = Math.ceil((b.length + op.by) / BLOCK_RECORDS) * BLOCK_RECORDS;
            const to = place(arena, capacity);
            to.ids.set(b.ids.subarray(b.base, b.base + b.length * RECORD_BYTES), to.base);
            arena.release(b.at, b.capacity);
            Object.assign(b, to, { capacity });
            while (b.length < capacity - 1) write(b, b.length++, ++value & 255);
          } else if (op.kind === "free" && blocks.length > 0) {
            const b = blocks[op.pick % blocks.length];
            arena.release(b.at, b.capacity);
            blocks = blocks.filter((x) => x !== b);
          } else if (op.kind === "compact") {
            arena.compact(blocks);
            // Slabs double up to SLAB_RECORDS_MAX: the kept ones are at most twice what is held
            // (plus each slab's unused end, under one block), or one largest slab more.
            const held = blocks.reduce((n, b) => n + b.capacity, 0);
            const bound = 2 * (held + 10 * CAPACITY_MAX) + SLAB_RECORDS_MIN + SLAB_RECORDS_MAX;
            assert.ok(arena.bytes <= bound * RECORD_BYTES, `${arena.bytes} bytes for ${held}`);
          }
          assertHeld(blocks);
        }
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("RecordArena.compact() drops the slabs left empty and reuses what it keeps", () => {
  const arena = new RecordArena();
  const blocks: Owned[] = [];
  for (let i = 0; i < 2_000; i++) {
    const b: Owned = { ...place(arena, 32), capacity: 32, length: 1, fill: [] };
    write(b, 0, i & 255);
    blocks.push(b);
  }
  const before = arena.bytes;
  const kept = blocks.filter((_, i) => i % 10 === 0);
  blocks.filter((_, i) => i % 10 !== 0).forEach((b) => arena.release(b.at, b.capacity));
  arena.compact(kept);
  assertHeld(kept);
  kept.forEach((b) => assert.equal(b.capacity, BLOCK_RECORDS)); // room for one more record
  assert.ok(arena.bytes < before / 4, `${arena.bytes} of ${before} bytes kept`);
  const next = arena.alloc(BLOCK_RECORDS);
  assert.ok(kept.every((b) => b.at !== next));
});
