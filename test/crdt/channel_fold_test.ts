/**
 * ChannelFold: the fold without the deltas. It must render what ChannelState renders for the same
 * set, and a snapshot of it (JSON text, as a checkpoint stores it) restored at any point and
 * folded on must too; its entries stay the state's size under add/remove churn.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ChannelFold } from "../../src/crdt/channel_fold.ts";
import { ChannelState } from "../../src/crdt/channel_state.ts";
import { decodeFold } from "../../src/crdt/fold_snapshot.ts";
import { authorId, folded, type FoldedDelta, tagOf } from "../support/folded_deltas.ts";
import { CHANNEL, poolArb } from "./_pool.ts";

const NUM_RUNS = 300;

/** A pool of distinct deltas in a random order, and a point to checkpoint at. */
const cutPoolArb = poolArb.chain((pool) =>
  fc.tuple(
    fc.shuffledSubarray(pool, { minLength: pool.length, maxLength: pool.length }),
    fc.nat({ max: pool.length }),
  )
);

function stateOf(deltas: readonly FoldedDelta[]): ChannelState {
  const state = new ChannelState(CHANNEL);
  for (const d of deltas) state.apply(d);
  return state;
}

/** The fold's snapshot through JSON text and back, as a checkpoint writes and reads it. */
function roundTrip(fold: ChannelFold): ChannelFold {
  return ChannelFold.restore(CHANNEL, JSON.parse(JSON.stringify(fold.snapshot())));
}

/** Every element of every set the pool names, with its live tags. */
function liveTags(fold: ChannelFold, pool: readonly FoldedDelta[]): string[][] {
  const named = pool.flatMap((d) =>
    d.ops.flatMap((op) => op.op === "add" || op.op === "rmv" ? [[op.set, op.elem]] : [])
  );
  return named.map(([set, elem]) => fold.liveTags(set, elem));
}

Deno.test("ChannelFold renders what ChannelState renders for the same delta set, in any order", () => {
  fc.assert(
    fc.property(cutPoolArb, ([pool]) => {
      const fold = new ChannelFold(CHANNEL);
      for (const d of pool) fold.apply(d);
      const state = stateOf(pool);
      assert.equal(fold.viewText(), state.viewText());
      assert.deepEqual(liveTags(fold, pool), liveTags(state, pool));
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("ChannelFold.restore() of a snapshot taken at any point, folded on, renders the whole set", () => {
  fc.assert(
    fc.property(cutPoolArb, ([pool, cut]) => {
      const before = new ChannelFold(CHANNEL);
      for (const d of pool.slice(0, cut)) before.apply(d);
      const restored = roundTrip(before);
      assert.equal(restored.viewText(), before.viewText());
      assert.equal(restored.entries, before.entries);
      for (const d of pool.slice(cut)) restored.apply(d);
      const state = stateOf(pool);
      assert.equal(restored.viewText(), state.viewText());
      assert.equal(restored.fingerprint(), state.fingerprint());
      assert.deepEqual(liveTags(restored, pool), liveTags(state, pool));
      assert.equal(roundTrip(restored).viewText(), state.viewText());
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("ChannelFold keeps no tag of an add its remove has met: entries stay the state's size", () => {
  const author = authorId("A");
  const fold = new ChannelFold(CHANNEL);
  let previous: string | null = null;
  for (let seq = 1; seq <= 1_000; seq++) {
    const ops: FoldedDelta["ops"] = [
      { op: "add", set: "online", elem: "me" },
      { op: "set", key: `k${seq % 10}`, value: seq },
      { op: "inc", counter: "n", by: 1 },
    ];
    if (previous !== null) ops.push({ op: "rmv", set: "online", elem: "me", tags: [previous] });
    const delta = folded({ channel: CHANNEL, author, seq, ts: seq, lc: 0, ops });
    fold.apply(delta);
    previous = tagOf(delta, 0);
  }
  // One live tag, ten keys, one counter, one author.
  assert.equal(fold.entries, 13);
  assert.deepEqual(fold.liveTags("online", "me"), [previous]);
  assert.equal(fold.size, 1_000);
});

Deno.test("ChannelFold.restore() refuses a snapshot that is not one, with a TypeError", () => {
  const fold = new ChannelFold(CHANNEL);
  fold.apply(folded({
    channel: CHANNEL,
    author: authorId("A"),
    seq: 1,
    ts: 0,
    lc: 0,
    ops: [{ op: "set", key: "k", value: 1 }, { op: "inc", counter: "c", by: 2 }],
  }));
  const good = JSON.parse(JSON.stringify(fold.snapshot()));
  const broken: unknown[] = [
    null,
    "text",
    { ...good, v: 2 },
    { ...good, idSum: "short" },
    { ...good, deltas: -1 },
    { ...good, authors: [] },
    { ...good, map: [["k", 0, 0, 7, 1, 0, "id", 1]] },
    { ...good, map: [["k", 0, 0, "length", 1, 0, "id", 1]] },
    { ...good, counters: [["c", "-2", "0"]] },
    { ...good, heads: [[1, [1]]] },
  ];
  for (const snapshot of broken) {
    assert.throws(() => decodeFold(snapshot), TypeError, JSON.stringify(snapshot));
  }
  assert.equal(ChannelFold.restore(CHANNEL, good).viewText(), fold.viewText());
});
