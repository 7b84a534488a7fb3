/**
 * IdTrie against a brute-force model: a plain array of ids filtered by prefix. Ids are drawn
 * from a few shared stems so that deep prefixes (past the 4 accumulated nibbles and past 16
 * bytes) hold more than one id.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { IdAccumulator } from "../../src/protocol/fingerprint.ts";
import { ID_BYTES, IdTrie, nibblePath, TRIE_LEAF_IDS_MAX } from "../../src/sync/id_trie.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** An id: `stem` bytes of one of three stems, then the arbitrary tail. */
const idArb = fc.tuple(fc.nat(2), fc.nat(ID_BYTES), fc.uint8Array({ minLength: 32, maxLength: 32 }))
  .map(([stem, shared, tail]) => {
    const id = tail.slice();
    id.fill(stem * 0x55, 0, shared);
    return id;
  });

function model(ids: readonly Uint8Array[]): Uint8Array[] {
  const byHex = new Map(ids.map((id) => [hex(id), id]));
  return [...byHex.keys()].sort().map((key) => byHex.get(key)!);
}

function startsWith(id: Uint8Array, path: Uint8Array): boolean {
  return hex(nibblePath(id, path.length)) === hex(path);
}

function accumulatorFingerprint(ids: readonly Uint8Array[]): Uint8Array {
  const acc = new IdAccumulator();
  ids.forEach((id) => acc.add(id));
  return acc.fingerprintBytes();
}

Deno.test("IdTrie.add() reports a duplicate and keeps the first payload", () => {
  const trie = new IdTrie<string>();
  const id = new Uint8Array(32).fill(7);
  assert.equal(trie.add(id, "a"), true);
  assert.equal(trie.add(id.slice(), "b"), false);
  assert.equal(trie.size, 1);
  assert.equal(trie.get(id), "a");
  assert.equal(trie.has(id), true);
  const other = id.slice();
  other[31] = 8;
  assert.equal(trie.has(other), false);
  assert.equal(trie.get(other), undefined);
});

Deno.test("IdTrie.fingerprint() of the root is the IdAccumulator fingerprint of the set", () => {
  fc.assert(fc.property(fc.array(idArb, { maxLength: 200 }), (ids) => {
    const trie = new IdTrie<number>();
    ids.forEach((id, i) => trie.add(id, i));
    assert.deepEqual(trie.fingerprint([]), accumulatorFingerprint(model(ids)));
    assert.equal(trie.size, model(ids).length);
  }));
});

Deno.test("IdTrie.count(), fingerprint() and ids() of any prefix match a filtered model", () => {
  fc.assert(fc.property(
    fc.array(idArb, { maxLength: 300 }),
    fc.array(fc.tuple(fc.nat(299), fc.nat(64), fc.nat(15))),
    (ids, probes) => {
      const trie = new IdTrie<number>();
      ids.forEach((id, i) => trie.add(id, i));
      const all = model(ids);
      for (const [pick, depth, last] of probes) {
        // Half the probes follow an existing id, so they land on non-empty ranges.
        const base = ids.length > 0 ? ids[pick % ids.length] : new Uint8Array(32);
        const path = nibblePath(base, depth);
        if (depth > 0 && pick % 2 === 1) path[depth - 1] = last;
        const inRange = all.filter((id) => startsWith(id, path));
        assert.equal(trie.count(path), inRange.length);
        assert.deepEqual(trie.fingerprint(path), accumulatorFingerprint(inRange));
        assert.deepEqual(trie.ids(path).map(hex), inRange.map(hex));
      }
    },
  ));
});

Deno.test("IdTrie.lookup() resolves byte prefixes to entries, ascending and at most max", () => {
  fc.assert(fc.property(
    fc.array(idArb, { maxLength: 200 }),
    fc.nat(32),
    fc.nat(5),
    (ids, length, max) => {
      const trie = new IdTrie<string>();
      ids.forEach((id) => trie.add(id, hex(id)));
      const probe = (ids[0] ?? new Uint8Array(32)).subarray(0, length);
      const expected = model(ids).filter((id) => hex(id).startsWith(hex(probe))).slice(0, max);
      const found = trie.lookup(probe, max);
      assert.deepEqual(found.map((e) => hex(e.id)), expected.map(hex));
      assert.deepEqual(found.map((e) => e.value), expected.map(hex));
    },
  ));
});

Deno.test("IdTrie of an empty set counts 0 everywhere and fingerprints like an empty accumulator", () => {
  const trie = new IdTrie<never>();
  const empty = accumulatorFingerprint([]);
  for (const path of [[], [1], [1, 2, 3, 4], [1, 2, 3, 4, 5, 6]]) {
    assert.equal(trie.count(path), 0);
    assert.deepEqual(trie.fingerprint(path), empty);
    assert.deepEqual(trie.ids(path), []);
  }
  assert.deepEqual(trie.lookup(new Uint8Array(), 10), []);
});

Deno.test("IdTrie rejects ids that are not 32 bytes and paths that are not nibble paths", () => {
  const trie = new IdTrie<number>();
  assert.throws(() => trie.add(new Uint8Array(31), 0), RangeError);
  assert.throws(() => trie.has(new Uint8Array(33)), RangeError);
  assert.throws(() => trie.count([16]), RangeError);
  assert.throws(() => trie.fingerprint([1.5]), RangeError);
  assert.throws(() => trie.ids(new Uint8Array(65)), RangeError);
  assert.throws(() => trie.lookup(new Uint8Array(33), 1), RangeError);
  assert.throws(() => nibblePath(new Uint8Array(2), 5), RangeError);
});

Deno.test("nibblePath() splits bytes high nibble first", () => {
  assert.deepEqual(nibblePath(Uint8Array.of(0xab, 0x0f)), Uint8Array.of(10, 11, 0, 15));
  assert.deepEqual(nibblePath(Uint8Array.of(0xab, 0x0f), 3), Uint8Array.of(10, 11, 0));
});

Deno.test("IdTrie.add() keeps 200,000 ids in ascending order within every bucket", () => {
  const trie = new IdTrie<number>();
  const bytes = new Uint8Array(200_000 * ID_BYTES);
  for (let o = 0; o < bytes.length; o += 65_536) {
    crypto.getRandomValues(bytes.subarray(o, o + 65_536));
  }
  for (let i = 0; i < 200_000; i++) trie.add(bytes.subarray(i * 32, i * 32 + 32), i);
  assert.equal(trie.size, 200_000);
  const listed = trie.ids([7]);
  assert.equal(listed.length, trie.count([7]));
  for (let i = 1; i < listed.length; i++) assert.ok(hex(listed[i - 1]) < hex(listed[i]));
  const sum = Array.from({ length: 16 }, (_, c) => trie.count([c])).reduce((a, b) => a + b);
  assert.equal(sum, 200_000);
});

/** `n` ids sharing their first two bytes, a third of them their first three, seeded. */
function groundIds(n: number, seed: number): Uint8Array[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) & 255;
  };
  return Array.from({ length: n }, (_, i) => {
    const id = Uint8Array.from({ length: ID_BYTES }, next);
    id[0] = 0xab;
    id[1] = 0xcd;
    if (i % 3 === 0) id[2] = 0x11;
    return id;
  });
}

Deno.test("IdTrie.count(), fingerprint(), ids() and lookup() match a model when leaves split", () => {
  const ids = groundIds(5_000, 1);
  const trie = new IdTrie<number>();
  ids.forEach((id, i) => trie.add(id, i));
  ids.forEach((id, i) => assert.equal(trie.add(id, -1), false, `re-add ${i}`));
  assert.equal(trie.size, 5_000);
  assert.ok(trie.shape().depthMax > 4, "the ground leaf split");
  const all = model(ids);
  const allHex = all.map(hex);
  assert.deepEqual(trie.ids([]).map(hex), allHex);
  assert.deepEqual(trie.fingerprint([]), accumulatorFingerprint(all));
  for (const [k, id] of ids.slice(0, 12).entries()) {
    assert.equal(trie.get(id), k);
    for (let depth = 3; depth <= 12; depth++) {
      const path = nibblePath(id, depth);
      if (k % 2 === 1 && depth > 4) path[depth - 1] ^= 1;
      const nibbles = [...path].map((n) => n.toString(16)).join("");
      const inRange = all.filter((_, i) => allHex[i].startsWith(nibbles));
      assert.equal(trie.count(path), inRange.length, `count at ${depth}`);
      assert.deepEqual(trie.fingerprint(path), accumulatorFingerprint(inRange));
      assert.deepEqual(trie.ids(path).map(hex), inRange.map(hex));
    }
    const bytes = id.subarray(0, 3);
    const expected = all.filter((_, i) => allHex[i].startsWith(hex(bytes))).slice(0, 7);
    assert.deepEqual(trie.lookup(bytes, 7).map((e) => hex(e.id)), expected.map(hex));
  }
});

Deno.test("IdTrie.add() keeps every leaf within TRIE_LEAF_IDS_MAX ids however the ids cluster", () => {
  // What an insert moves and a deep fingerprint sums is one leaf: 20,000 ids ground into one
  // 2-byte prefix must not pile up in one sorted array (the old layout held all 20,000 there).
  const trie = new IdTrie<number>();
  groundIds(20_000, 2).forEach((id, i) => trie.add(id, i));
  const shape = trie.shape();
  assert.ok(shape.leafIdsMax <= TRIE_LEAF_IDS_MAX, `${shape.leafIdsMax} ids in one leaf`);
  assert.ok(shape.depthMax <= 8, `depth ${shape.depthMax}`);
  const random = new IdTrie<number>();
  const bytes = crypto.getRandomValues(new Uint8Array(20_000 * ID_BYTES).subarray(0, 65_536));
  for (let i = 0; i < 2_048; i++) random.add(bytes.subarray(i * 32, i * 32 + 32), i);
  assert.equal(random.shape().depthMax, 4, "hash ids keep the flat layout");
});
