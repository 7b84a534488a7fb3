/**
 * Properties of the fold: a channel's view is a function of its delta set alone. Pools of deltas
 * are drawn over a few authors and tiny alphabets so that keys, elements, stamps and tags collide.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ChannelState } from "../../src/crdt/channel_state.ts";
import { decodeBase64Url } from "../../src/protocol/base64url.ts";
import { canonicalJson, type JsonValue } from "../../src/protocol/canonical_json.ts";
import type { OpValue } from "../../src/protocol/delta.ts";
import { IdAccumulator } from "../../src/protocol/fingerprint.ts";
import { type FoldedDelta, tagOf } from "../support/folded_deltas.ts";
import { CHANNEL, poolArb } from "./_pool.ts";

const NUM_RUNS = 200;

function fold(deltas: Iterable<FoldedDelta>): ChannelState {
  const state = new ChannelState(CHANNEL);
  for (const d of deltas) state.apply(d);
  return state;
}

const merge = (a: ChannelState, b: ChannelState) => ChannelState.merge(a, b);

/** A naive, independent fold of a delta set straight from the rules in DESIGN.md section 2. */
function referenceViewText(pool: readonly FoldedDelta[]): string {
  const deltas = [...new Map(pool.map((d) => [d.id, d])).values()];
  const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
  type Write = { stamp: (string | number)[]; value: OpValue | undefined };
  const writes = new Map<string, Write>();
  const added = new Map<string, Set<string>>();
  const removed = new Map<string, Set<string>>();
  const counters = new Map<string, bigint>();
  const seqs = new Map<string, Set<number>>();
  const ids = new IdAccumulator();
  const bucket = <K, V>(m: Map<K, V>, k: K, make: () => V) => m.get(k) ?? m.set(k, make()).get(k)!;
  for (const d of deltas) {
    ids.add(decodeBase64Url(d.id)!);
    bucket(seqs, d.author, () => new Set()).add(d.seq);
    d.ops.forEach((op, i) => {
      const elemKey = (set: string, elem: string) => JSON.stringify([set, elem]);
      if (op.op === "set" || op.op === "del") {
        const stamp = [d.ts, d.lc, d.author, d.seq, i];
        const old = writes.get(op.key);
        const wins = old === undefined ||
          stamp.map((x, j) => cmp(x, old.stamp[j])).find((c) => c !== 0)! > 0;
        if (wins) writes.set(op.key, { stamp, value: op.op === "set" ? op.value : undefined });
      } else if (op.op === "add") {
        bucket(added, elemKey(op.set, op.elem), () => new Set()).add(tagOf(d, i));
      } else if (op.op === "rmv") {
        for (const tag of op.tags) {
          bucket(removed, elemKey(op.set, op.elem), () => new Set()).add(tag);
        }
      } else {
        counters.set(op.counter, (counters.get(op.counter) ?? 0n) + BigInt(op.by));
      }
    });
  }
  const obj = <T>(entries: [string, T][]) => Object.fromEntries(entries) as Record<string, T>;
  const live: [string, string][] = [];
  for (const [key, tags] of added) {
    if ([...tags].some((t) => !removed.get(key)?.has(t))) live.push(JSON.parse(key));
  }
  const sets = new Map<string, string[]>();
  for (const [set, elem] of live) bucket(sets, set, () => []).push(elem);
  const heads: [string, number][] = [];
  const gaps: [string, [number, number][]][] = [];
  for (const [author, present] of seqs) {
    let head = 0;
    while (present.has(head + 1)) head++;
    heads.push([author, head]);
    const max = Math.max(...present);
    const ranges: [number, number][] = [];
    for (let s = head + 1; s <= max; s++) {
      if (present.has(s)) continue;
      if (ranges.length > 0 && ranges.at(-1)![1] === s - 1) ranges.at(-1)![1] = s;
      else ranges.push([s, s]);
    }
    if (max > head) gaps.push([author, ranges]);
  }
  const view = {
    channel: CHANNEL,
    map: obj([...writes].filter(([, w]) => w.value !== undefined).map(([k, w]) => [k, w.value!])),
    sets: obj([...sets].map(([name, elems]) => [name, elems.sort()])),
    counters: obj([...counters]),
    heads: obj(heads),
    gaps: obj(gaps),
    fingerprint: ids.fingerprint(),
    deltas: deltas.length,
  };
  return canonicalJson(view as unknown as JsonValue);
}

Deno.test("ChannelState.viewText() equals an independent reference fold of the delta set", () => {
  fc.assert(
    fc.property(poolArb, (pool) => {
      assert.equal(fold(pool).viewText(), referenceViewText(pool));
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("ChannelState.viewText() is byte-identical for any permutation of the same deltas", () => {
  const arb = poolArb.chain((pool) =>
    fc.tuple(
      fc.constant(pool),
      fc.shuffledSubarray(pool, { minLength: pool.length, maxLength: pool.length }),
    )
  );
  fc.assert(
    fc.property(arb, ([pool, shuffled]) => {
      assert.equal(fold(shuffled).viewText(), fold(pool).viewText());
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("ChannelState.merge() of duplicated, shuffled batches equals one fold of the set", () => {
  const BATCHES = 4;
  // Each delta goes to 1-3 (batch, position) slots: copies in several batches or in one.
  const arb = poolArb.chain((pool) =>
    fc.tuple(
      fc.constant(pool),
      fc.array(
        fc.array(fc.tuple(fc.nat({ max: BATCHES - 1 }), fc.nat()), { minLength: 1, maxLength: 3 }),
        { minLength: pool.length, maxLength: pool.length },
      ),
    )
  );
  fc.assert(
    fc.property(arb, ([pool, slots]) => {
      const batches: [number, FoldedDelta][][] = Array.from({ length: BATCHES }, () => []);
      slots.forEach((copies, i) => {
        for (const [batch, position] of copies) batches[batch].push([position, pool[i]]);
      });
      const ordered = batches.map((b) => b.sort((x, y) => x[0] - y[0]).map(([, d]) => d));
      const expected = fold(pool).viewText();
      const merged = ordered.map(fold).reduce(merge, new ChannelState(CHANNEL));
      assert.equal(merged.viewText(), expected);
      assert.equal(fold(ordered.flat()).viewText(), expected);
      assert.equal(merged.size, pool.length);
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("ChannelState.merge() is commutative, associative and idempotent", () => {
  const arb = poolArb.chain((pool) =>
    fc.tuple(
      fc.constant(pool),
      fc.array(fc.nat({ max: 7 }), { minLength: pool.length, maxLength: pool.length }),
    )
  );
  fc.assert(
    fc.property(arb, ([pool, masks]) => {
      const [a, b, c] = [1, 2, 4].map((bit) => fold(pool.filter((_, i) => masks[i] & bit)));
      const text = (s: ChannelState) => s.viewText();
      assert.equal(text(merge(a, b)), text(merge(b, a)));
      assert.equal(text(merge(merge(a, b), c)), text(merge(a, merge(b, c))));
      assert.equal(text(merge(a, a)), text(a));
      assert.equal(text(merge(merge(a, b), b)), text(merge(a, b)));
      assert.equal(text(merge(a, b)), referenceViewText(pool.filter((_, i) => masks[i] & 3)));
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("ChannelState.apply() one by one equals merge() of singleton states", () => {
  fc.assert(
    fc.property(poolArb, (pool) => {
      const incremental = fold(pool);
      const singletons = pool.map((d) => fold([d]));
      const merged = singletons.reduce(merge, new ChannelState(CHANNEL));
      const mergedRight = singletons.reduceRight(
        (acc, s) => merge(s, acc),
        new ChannelState(CHANNEL),
      );
      assert.equal(merged.viewText(), incremental.viewText());
      assert.equal(mergedRight.viewText(), incremental.viewText());
      assert.equal(merged.fingerprint(), incremental.fingerprint());
    }),
    { numRuns: NUM_RUNS },
  );
});
