/**
 * Seeded id sets for the reconciliation tests: a failing seed replays the same sets.
 */
import { ID_BYTES, IdTrie } from "../../src/sync/id_trie.ts";
import { resolveIds } from "../../src/sync/range_reconcile.ts";

const BYTE_HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
export const hex = (bytes: Uint8Array) => {
  let out = "";
  for (const b of bytes) out += BYTE_HEX[b];
  return out;
};

/** mulberry32: a tiny seeded generator, so that a failing seed replays the same sets. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type Shape = "random" | "clustered";

/**
 * `n` ids; clustered ids share one of 3 stems for their first 16 bytes (so id prefixes collide
 * across the sides) or their first 24. The tails stay random: fingerprints are sums, and ids that
 * differ in one byte only would give equal sums (x + y = z + w) far more often than hashes do.
 */
export function makeIds(n: number, next: () => number, shape: Shape): Uint8Array[] {
  return Array.from({ length: n }, () => {
    const id = new Uint8Array(ID_BYTES);
    for (let k = 0; k < ID_BYTES; k++) id[k] = (next() * 256) | 0;
    if (shape === "clustered") {
      const stem = (next() * 3) | 0;
      id.fill(0x40 + stem, 0, next() < 0.5 ? 16 : 24);
    }
    return id;
  });
}

export function trieOf(ids: readonly Uint8Array[]): IdTrie<string> {
  const trie = new IdTrie<string>();
  ids.forEach((id) => trie.add(id, "ch"));
  return trie;
}

/** The true differences, as sorted hex. */
export function differences(client: IdTrie<string>, server: IdTrie<string>) {
  const a = new Set(client.ids([]).map(hex));
  const b = new Set(server.ids([]).map(hex));
  return {
    have: [...a].filter((id) => !b.has(id)).sort(),
    need: [...b].filter((id) => !a.has(id)).sort(),
  };
}

/** Full ids of the server named by `need` (prefixes resolved on the server's trie). */
export function resolved(server: IdTrie<string>, need: readonly Uint8Array[]): string[] {
  return resolveIds(server, need, Infinity).map((e) => hex(e.id)).sort();
}
