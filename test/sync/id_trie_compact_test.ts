/**
 * The compact layout of IdTrie (issue 14): ids packed with a 32-bit payload code each, payloads
 * interned (or kept as integers), leaves with little spare room. Checked against a brute-force
 * model on sets that crowd a few top buckets, so leaves fill, grow and split.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { IdAccumulator } from "../../src/protocol/fingerprint.ts";
import {
  ID_BYTES,
  IdTrie,
  nibblePath,
  TRIE_LEAF_IDS_MAX,
  uint32Payloads,
} from "../../src/sync/id_trie.ts";
import { hex, random } from "./_sets.ts";

/** Bytes one id takes in a leaf: the id and its payload code. */
const RECORD_BYTES = ID_BYTES + 4;
/** Bytes of the largest slab of the arena leaves live in (`_record_arena.ts`). */
const SLAB_BYTES_MAX = 32_768 * RECORD_BYTES;

/** `n` ids in `buckets` top buckets (their first two bytes), the rest random, from `seed`. */
function crowdedIds(n: number, buckets: number, seed: number): Uint8Array[] {
  const next = random(seed);
  return Array.from({ length: n }, () => {
    const id = new Uint8Array(ID_BYTES);
    for (let k = 0; k < ID_BYTES; k++) id[k] = (next() * 256) | 0;
    id[0] = 0x30;
    id[1] = (next() * buckets) | 0;
    return id;
  });
}

/** A fresh string per call, as a store hands out one per entry. */
const channelOf = (i: number) => "ch-" + (i % 5);

function fingerprintOf(ids: readonly Uint8Array[]): Uint8Array {
  const acc = new IdAccumulator();
  ids.forEach((id) => acc.add(id));
  return acc.fingerprintBytes();
}

Deno.test("IdTrie gives the model's counts, fingerprints, ids and payloads while leaves grow and split", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_500 }), fc.nat(), fc.nat(3), (n, seed, spread) => {
      const ids = crowdedIds(n, 1 << spread, seed);
      const trie = new IdTrie<string>();
      const first = new Map<string, string>();
      ids.forEach((id, i) => {
        assert.equal(trie.add(id, channelOf(i)), !first.has(hex(id)));
        if (!first.has(hex(id))) first.set(hex(id), channelOf(i));
      });
      const sorted = [...first.keys()].sort();
      assert.equal(trie.size, sorted.length);
      assert.equal(hex(trie.fingerprint([])), hex(fingerprintOf(ids.filter(uniqueIn(first)))));
      const next = random(seed + 1);
      for (let probe = 0; probe < 20; probe++) {
        const id = ids[(next() * ids.length) | 0];
        const path = nibblePath(id, (next() * 13) | 0);
        const pathHex = [...path].map((nibble) => nibble.toString(16)).join("");
        const under = sorted.filter((h) => h.startsWith(pathHex));
        assert.equal(trie.count(path), under.length);
        assert.equal(trie.ids(path).map(hex).join(), under.join());
        assert.equal(hex(trie.fingerprint(path)), hex(fingerprintOf(trie.ids(path))));
        assert.deepEqual(
          trie.lookup(id.subarray(0, 16), 4).map((e) => [hex(e.id), e.value]),
          under.filter((h) => h.startsWith(hex(id.subarray(0, 16)))).slice(0, 4)
            .map((h) => [h, first.get(h)]),
        );
        assert.equal(trie.get(id), first.get(hex(id)));
      }
    }),
    { numRuns: 40 },
  );
});

/** Keeps the first copy of each id (as the trie does). */
function uniqueIn(first: Map<string, string>) {
  const seen = new Set<string>();
  return (id: Uint8Array) => {
    const h = hex(id);
    if (!first.has(h) || seen.has(h)) return false;
    seen.add(h);
    return true;
  };
}

Deno.test("IdTrie keeps its leaves within a quarter of spare room (36 bytes an id)", () => {
  const trie = new IdTrie<string>();
  crowdedIds(20_000, 256, 14).forEach((id, i) => trie.add(id, channelOf(i)));
  const shape = trie.shape();
  assert.equal(shape.leaves, 256);
  assert.ok(shape.leafIdsMax <= TRIE_LEAF_IDS_MAX);
  const perId = shape.leafBytes / trie.size;
  assert.ok(perId >= RECORD_BYTES, `${perId} bytes an id`);
  assert.ok(perId <= RECORD_BYTES * 1.3, `${perId} bytes an id`);
});

Deno.test("IdTrie with uint32Payloads keeps integer payloads as they are and refuses others", () => {
  const trie = new IdTrie<number>(uint32Payloads);
  const ids = crowdedIds(3_000, 2, 7);
  ids.forEach((id, i) => trie.add(id, 0xffff_ffff - i));
  ids.forEach((id, i) => assert.equal(trie.get(id), 0xffff_ffff - i));
  const other = crowdedIds(1, 2, 8)[0];
  for (const bad of [-1, 0.5, 2 ** 32, NaN]) {
    assert.throws(() => trie.add(other, bad), RangeError);
  }
  assert.equal(trie.size, 3_000);
  assert.equal(trie.has(other), false);
});

Deno.test("IdTrie.compact() and the compaction while adding keep every id, payload and fingerprint", () => {
  const next = random(21);
  const ids = Array.from({ length: 60_000 }, () => {
    const id = new Uint8Array(ID_BYTES);
    for (let k = 0; k < ID_BYTES; k++) id[k] = (next() * 256) | 0;
    id[0] &= 0x0f; // 4,096 top buckets: ~15 ids a leaf, grown block by block
    return id;
  });
  const trie = new IdTrie<string>();
  let arenaMax = 0;
  ids.forEach((id, i) => {
    trie.add(id, channelOf(i));
    if (i % 1_000 === 0) arenaMax = Math.max(arenaMax, trie.shape().arenaBytes);
  });
  const grown = trie.shape();
  // Freed blocks stay within a quarter of the held ones (plus the last slab's unused end).
  assert.ok(grown.arenaBytes <= grown.leafBytes * 1.25 + SLAB_BYTES_MAX, `${grown.arenaBytes}`);
  trie.compact();
  const compacted = trie.shape();
  assert.ok(compacted.leafBytes <= (trie.size + 4 * compacted.leaves) * RECORD_BYTES);
  assert.ok(compacted.arenaBytes <= compacted.leafBytes + SLAB_BYTES_MAX);
  assert.ok(arenaMax <= 2 * compacted.arenaBytes, `${arenaMax} at most while adding`);
  const sorted = ids.map((id, i) => ({ h: hex(id), i })).sort((a, b) => a.h < b.h ? -1 : 1);
  assert.equal(trie.ids([]).map(hex).join(), sorted.map((e) => e.h).join());
  ids.forEach((id, i) => assert.equal(trie.get(id), channelOf(i)));
  assert.equal(hex(trie.fingerprint([])), hex(fingerprintOf(ids)));
  for (let n = 0; n < 16; n++) {
    const path = [n, (n * 7) % 16, (n * 3) % 16, n % 5, (n * 11) % 16];
    assert.equal(hex(trie.fingerprint(path)), hex(fingerprintOf(trie.ids(path))));
  }
});
