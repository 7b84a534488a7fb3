/**
 * A channel fold as plain JSON data, and back: what a view checkpoint stores. It holds the fold's
 * state — map entries with their winning stamps (deletions too: they still compete), each set's
 * live and pending-removed tags, counters as their two exact sums, heads with the seqs above
 * them, and the sum and count of the folded ids — never the deltas themselves, so its size is the
 * state's, not the history's. Authors are written once and named by index elsewhere.
 *
 * `decodeFold` checks the shape of everything it reads and throws a `TypeError` on anything
 * else: a checkpoint is derived data, and its reader falls back to folding the deltas.
 */
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";
import type { OpValue } from "../protocol/delta.ts";
import { IdAccumulator } from "../protocol/fingerprint.ts";
import { AuthorHeads } from "./author_heads.ts";
import { LwwMap } from "./lww_map.ts";
import { OrSet } from "./or_set.ts";
import { PnCounter } from "./pn_counter.ts";

/** The format version `encodeFold` writes; `decodeFold` refuses any other. */
export const FOLD_SNAPSHOT_VERSION = 1;

/** `[key, ts, lc, author index, seq, op index, delta id]`, then the value unless deleted. */
type MapRow = [string, number, number, number, number, number, string, OpValue?];
/** `[element, live tags, removed tags whose add is not held]`. */
type SetRow = [string, string[], string[]];

export interface FoldSnapshot {
  readonly v: typeof FOLD_SNAPSHOT_VERSION;
  /** How many deltas are folded. */
  readonly deltas: number;
  /** base64url of the folded ids' sum modulo 2^256 (docs/protocol.md §11). */
  readonly idSum: string;
  /** Every author with a delta folded; the rows below name authors by their index here. */
  readonly authors: string[];
  /** Per author, in `authors` order: `[highest contiguous seq, seqs present above it]`. */
  readonly heads: [number, number[]][];
  readonly map: MapRow[];
  readonly sets: [string, SetRow[]][];
  /** `[name, sum of increments, sum of decrements]`, exact decimal integers. */
  readonly counters: [string, string, string][];
}

/** What a fold is made of. */
export interface FoldParts {
  readonly map: LwwMap;
  readonly sets: Map<string, OrSet>;
  readonly counters: Map<string, PnCounter>;
  readonly heads: AuthorHeads;
  readonly ids: IdAccumulator;
}

export function encodeFold(parts: FoldParts): FoldSnapshot {
  const authors: string[] = [];
  const heads: [number, number[]][] = [];
  const index = new Map<string, number>();
  for (const [author, head, above] of parts.heads.held()) {
    index.set(author, authors.length);
    authors.push(author);
    heads.push([head, above]);
  }
  const map: MapRow[] = [];
  for (const [key, s, value] of parts.map.held()) {
    const author = index.get(s.author);
    if (author === undefined) {
      throw new Error(`A map stamp names an author with no head: ${s.author}`);
    }
    const row: MapRow = [key, s.ts, s.lc, author, s.seq, s.op, s.id];
    if (value !== undefined) row.push(value);
    map.push(row);
  }
  return {
    v: FOLD_SNAPSHOT_VERSION,
    deltas: parts.ids.count,
    idSum: encodeBase64Url(parts.ids.sumBytes()),
    authors,
    heads,
    map,
    sets: [...parts.sets].map(([name, set]) => [name, [...set.held()]]),
    counters: [...parts.counters].map(([name, c]) => [name, String(c.sums[0]), String(c.sums[1])]),
  };
}

/** The fold `snapshot` describes. Throws a `TypeError` when it is not a well-formed snapshot. */
export function decodeFold(snapshot: unknown): FoldParts {
  const s = snapshot as FoldSnapshot;
  check(typeof s === "object" && s !== null && s.v === FOLD_SNAPSHOT_VERSION, "version");
  const sum = typeof s.idSum === "string" ? decodeBase64Url(s.idSum) : null;
  check(sum !== null && sum.length === 32 && isCount(s.deltas), "idSum or deltas");
  check(strings(s.authors) && rows(s.heads) && s.authors.length === s.heads.length, "authors");
  const heads = new AuthorHeads();
  s.heads.forEach(([head, above], i) => {
    check(typeof s.authors[i] === "string" && Array.isArray(above), "heads");
    heads.restore(s.authors[i], head, above);
  });
  check(rows(s.map) && rows(s.sets) && rows(s.counters), "rows");
  const map = new LwwMap();
  for (const [key, ts, lc, author, seq, op, id, value] of s.map) {
    check(
      typeof key === "string" && typeof id === "string" && isIndex(author, s.authors),
      "map row",
    );
    check([ts, lc, seq, op].every((n) => typeof n === "number"), "map stamp");
    map.apply(key, { ts, lc, author: s.authors[author], seq, op, id }, value);
  }
  const sets = new Map<string, OrSet>();
  for (const [name, elements] of s.sets) {
    check(typeof name === "string" && rows(elements), "set");
    const set = new OrSet();
    for (const [elem, live, removed] of elements) {
      check(typeof elem === "string" && strings(live) && strings(removed), "set element");
      for (const tag of live) set.add(elem, tag);
      set.remove(elem, removed);
    }
    sets.set(name, set);
  }
  const counters = new Map<string, PnCounter>();
  for (const [name, positive, negative] of s.counters) {
    check(typeof name === "string" && isDecimal(positive) && isDecimal(negative), "counter");
    counters.set(name, new PnCounter(BigInt(positive), BigInt(negative)));
  }
  return { map, sets, counters, heads, ids: IdAccumulator.restore(sum!, s.deltas) };
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new TypeError(`Cannot decode a fold snapshot: bad ${what}`);
}

function rows(value: unknown): value is unknown[][] {
  return Array.isArray(value) && value.every(Array.isArray);
}

function strings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

function isIndex(value: unknown, of: readonly unknown[]): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < of.length;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isDecimal(value: unknown): value is string {
  return typeof value === "string" && /^[0-9]{1,4096}$/.test(value);
}
