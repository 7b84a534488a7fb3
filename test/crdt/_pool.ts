/**
 * Pools of deltas for the fold's property tests, drawn over a few authors and tiny alphabets so
 * that keys, elements, stamps and tags collide: `rmv` ops name earlier adds (observed removes),
 * and tags nobody has produced.
 */
import fc from "fast-check";
import type { OpValue } from "../../src/protocol/delta.ts";
import {
  authorId,
  fakeId,
  folded,
  type FoldedDelta,
  type Op,
  tagOf,
} from "../support/folded_deltas.ts";

export const CHANNEL = "prop";
const MAX = Number.MAX_SAFE_INTEGER;

/** Authors that sort differently by code unit ("A" < "_" < "a") than by locale. */
export const AUTHORS = [authorId("A"), authorId("_"), authorId("a")];
const KEYS = ["k", "j", "10", "9", "__proto__"];
const SETS = ["s", "constructor"];
const ELEMS = ["x", "X", "_", "10", "9"];
const COUNTERS = ["c", "__proto__"];

/** A tag an `rmv` names: an earlier add of the pool, or one nobody has produced (yet). */
type TagRef = { readonly seen: number } | { readonly fresh: number };

type OpSpec =
  | { readonly op: "set"; readonly key: string; readonly value: OpValue }
  | { readonly op: "del"; readonly key: string }
  | { readonly op: "add"; readonly set: string; readonly elem: string }
  | {
    readonly op: "rmv";
    readonly set: string;
    readonly elem: string;
    readonly refs: readonly TagRef[];
    /** Remove under the set and element of the first seen add (the usual, observed remove). */
    readonly observed: boolean;
  }
  | { readonly op: "inc"; readonly counter: string; readonly by: number };

interface DeltaSpec {
  readonly author: number;
  readonly ts: number;
  readonly lc: number;
  readonly ops: readonly OpSpec[];
}

const valueArb: fc.Arbitrary<OpValue> = fc.oneof(
  fc.constantFrom<OpValue>(null, true, false, 0, "v", ""),
  fc.integer(),
  fc.string({ maxLength: 4 }),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<OpValue>,
);

const byArb = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(MAX, -MAX, MAX - 1, 2 ** 52),
  fc.integer({ min: -MAX, max: MAX }),
);

const tagRefArb: fc.Arbitrary<TagRef> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ seen: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ fresh: fc.nat({ max: 5 }) }) },
);

const opSpecArb: fc.Arbitrary<OpSpec> = fc.oneof(
  fc.record({ op: fc.constant("set" as const), key: fc.constantFrom(...KEYS), value: valueArb }),
  fc.record({ op: fc.constant("del" as const), key: fc.constantFrom(...KEYS) }),
  fc.record({
    op: fc.constant("add" as const),
    set: fc.constantFrom(...SETS),
    elem: fc.constantFrom(...ELEMS),
  }),
  fc.record({
    op: fc.constant("rmv" as const),
    set: fc.constantFrom(...SETS),
    elem: fc.constantFrom(...ELEMS),
    refs: fc.array(tagRefArb, { minLength: 1, maxLength: 3 }),
    observed: fc.boolean(),
  }),
  fc.record({ op: fc.constant("inc" as const), counter: fc.constantFrom(...COUNTERS), by: byArb }),
);

const deltaSpecArb: fc.Arbitrary<DeltaSpec> = fc.record({
  author: fc.nat({ max: AUTHORS.length - 1 }),
  // Few distinct stamps on purpose, so ties fall through to author, seq and op index.
  ts: fc.constantFrom(0, 1, 2, MAX),
  lc: fc.constantFrom(0, 1, 0xffff_ffff),
  ops: fc.array(opSpecArb, { minLength: 1, maxLength: 4 }),
});

/** Turns specs into deltas: per-author seq 1, 2, 3...; rmv tags resolved against earlier adds. */
export function buildPool(specs: readonly DeltaSpec[]): FoldedDelta[] {
  const seqs = AUTHORS.map(() => 0);
  const adds: { tag: string; set: string; elem: string }[] = [];
  const pool: FoldedDelta[] = [];
  for (const spec of specs) {
    const ops = spec.ops.map((o): Op => {
      if (o.op !== "rmv") return o;
      let { set, elem } = o;
      let retarget = o.observed;
      const tags = o.refs.map((ref) => {
        if ("seen" in ref && adds.length > 0) {
          const seen = adds[ref.seen % adds.length];
          if (retarget) ({ set, elem } = seen);
          retarget = false;
          return seen.tag;
        }
        const n = "fresh" in ref ? ref.fresh : ref.seen;
        return `${fakeId(`never added ${n}`)}:${n % 3}`;
      });
      return { op: "rmv", set, elem, tags };
    });
    const author = AUTHORS[spec.author];
    const seq = ++seqs[spec.author];
    const delta = folded({ channel: CHANNEL, author, seq, ts: spec.ts, lc: spec.lc, ops });
    ops.forEach((op, i) => {
      if (op.op === "add") adds.push({ tag: tagOf(delta, i), set: op.set, elem: op.elem });
    });
    pool.push(delta);
  }
  return pool;
}

export const poolArb = fc.array(deltaSpecArb, { maxLength: 14 }).map(buildPool);
