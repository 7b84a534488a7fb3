import assert from "node:assert/strict";
import { ChannelState } from "../../src/crdt/channel_state.ts";
import { IdAccumulator } from "../../src/protocol/fingerprint.ts";
import { decodeBase64Url, encodeBase64Url } from "../../src/protocol/base64url.ts";
import type { OpValue } from "../../src/protocol/delta.ts";
import {
  authorId,
  type DeltaFields,
  fakeId,
  folded,
  type FoldedDelta,
  type Op,
  tagOf,
} from "../support/folded_deltas.ts";

const CHANNEL = "room.1";
const MAX = Number.MAX_SAFE_INTEGER;

/** Authors whose JavaScript string order is A < B < _ < a (code units 65, 66, 95, 97). */
const A = authorId("A");
const B = authorId("B");
const LOW_LINE = authorId("_");
const LOWER_A = authorId("a");

function delta(fields: Partial<DeltaFields> & { ops: Op[] }): FoldedDelta {
  return folded({ channel: CHANNEL, author: A, seq: 1, ts: 1_000, lc: 0, ...fields });
}

function fold(deltas: readonly FoldedDelta[]): ChannelState {
  const state = new ChannelState(CHANNEL);
  for (const d of deltas) state.apply(d);
  return state;
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
  );
}

/** Folds `deltas` in every order; all orders must render the same text, which is returned. */
function foldEveryOrder(deltas: readonly FoldedDelta[]): ChannelState {
  const states = permutations(deltas).map(fold);
  const text = states[0].viewText();
  for (const state of states) assert.equal(state.viewText(), text);
  return states[0];
}

const set = (key: string, value: OpValue): Op => ({ op: "set", key, value });
const del = (key: string): Op => ({ op: "del", key });
const add = (name: string, elem: string): Op => ({ op: "add", set: name, elem });
const rmv = (name: string, elem: string, tags: string[]): Op => ({
  op: "rmv",
  set: name,
  elem,
  tags,
});
const inc = (counter: string, by: number): Op => ({ op: "inc", counter, by });

// ---- last-writer-wins map -------------------------------------------------------------------

Deno.test("ChannelState.apply() lets the greater ts win a map key whatever the order", () => {
  const older = delta({ author: LOWER_A, seq: 9, ts: 1_000, lc: 99, ops: [set("k", "older")] });
  const newer = delta({ author: A, seq: 1, ts: 1_001, lc: 0, ops: [set("k", "newer")] });
  assert.equal(foldEveryOrder([older, newer]).view().map.k, "newer");
});

Deno.test("ChannelState.apply() breaks an equal ts by the greater lc", () => {
  const low = delta({ author: LOWER_A, seq: 9, lc: 1, ops: [set("k", "low")] });
  const high = delta({ author: A, seq: 1, lc: 2, ops: [set("k", "high")] });
  assert.equal(foldEveryOrder([low, high]).view().map.k, "high");
});

Deno.test("ChannelState.apply() breaks equal ts and lc by author in JavaScript string order", () => {
  // JavaScript `<` compares UTF-16 code units: "A" < "B" < "_" < "a". A locale-aware compare
  // would put "a" before "B" and "_" first; the view must not depend on the runtime's locale.
  const ops = (v: string) => [set("k", v)];
  const deltas = [
    delta({ author: B, seq: 5, ops: ops("B") }),
    delta({ author: LOWER_A, seq: 1, ops: ops("a") }),
    delta({ author: A, seq: 7, ops: ops("A") }),
    delta({ author: LOW_LINE, seq: 3, ops: ops("_") }),
  ];
  assert.equal(foldEveryOrder(deltas).view().map.k, "a");
  assert.equal(foldEveryOrder(deltas.filter((d) => d.author !== LOWER_A)).view().map.k, "_");
  assert.equal(foldEveryOrder([deltas[0], deltas[2]]).view().map.k, "B");
});

Deno.test("ChannelState.apply() breaks equal ts, lc and author by the greater seq", () => {
  const first = delta({ seq: 1, ops: [set("k", "seq 1"), set("j", "seq 1")] });
  const second = delta({ seq: 2, ops: [set("k", "seq 2")] });
  const view = foldEveryOrder([first, second]).view();
  // Op index 1 in seq 1 does not beat op index 0 in seq 2: seq compares first.
  assert.equal(view.map.k, "seq 2");
  assert.equal(view.map.j, "seq 1");
});

Deno.test("ChannelState.apply() lets the later op index win inside one delta", () => {
  const d = delta({
    ops: [set("k", 1), set("k", 2), del("j"), set("j", "back"), set("x", 1), del("x")],
  });
  const view = fold([d]).view();
  assert.equal(view.map.k, 2);
  assert.equal(view.map.j, "back");
  assert.equal("x" in view.map, false);
});

Deno.test("ChannelState.apply() orders del against set by stamp, not by arrival", () => {
  const put = delta({ ts: 1_000, ops: [set("k", "v")] });
  const remove = delta({ author: B, ts: 1_001, ops: [del("k")] });
  const putAgain = delta({ seq: 2, ts: 1_002, ops: [set("k", "again")] });
  assert.equal("k" in foldEveryOrder([put, remove]).view().map, false);
  assert.equal(foldEveryOrder([put, remove, putAgain]).view().map.k, "again");
  // An older delete loses to a newer set even when it arrives last.
  const staleDelete = delta({ author: B, seq: 2, ts: 999, ops: [del("k")] });
  assert.equal(foldEveryOrder([put, staleDelete]).view().map.k, "v");
});

Deno.test("ChannelState.view() keeps a key set to null and drops a deleted key", () => {
  const d = delta({ ops: [set("nothing", null), set("gone", 1), del("gone"), del("never")] });
  const state = fold([d]);
  assert.deepEqual(Object.keys(state.view().map), ["nothing"]);
  assert.equal(state.view().map.nothing, null);
  assert.match(state.viewText(), /"map":\{"nothing":null\}/);
});

// ---- observed-remove set ----------------------------------------------------------------------

Deno.test("ChannelState.apply() keeps a concurrent add that the rmv did not observe", () => {
  const seen = delta({ ops: [add("s", "x")] });
  const concurrent = delta({ author: B, ops: [add("s", "x")] });
  const remove = delta({ seq: 2, ts: 2_000, ops: [rmv("s", "x", [tagOf(seen, 0)])] });
  const state = foldEveryOrder([seen, concurrent, remove]);
  assert.deepEqual(state.view().sets.s, ["x"]);
  assert.deepEqual(state.liveTags("s", "x"), [tagOf(concurrent, 0)]);
  // Once every tag is named, the element is gone and the emptied set leaves the view.
  const removeRest = delta({ author: B, seq: 2, ops: [rmv("s", "x", [tagOf(concurrent, 0)])] });
  const emptied = foldEveryOrder([seen, concurrent, remove, removeRest]);
  assert.equal("s" in emptied.view().sets, false);
  assert.deepEqual(emptied.liveTags("s", "x"), []);
});

Deno.test("ChannelState.apply() kills an add whose tag a rmv named before the add arrived", () => {
  const adder = delta({ ops: [add("s", "x"), add("s", "y")] });
  const remove = delta({ author: B, ts: 0, ops: [rmv("s", "x", [tagOf(adder, 0)])] });
  const state = new ChannelState(CHANNEL);
  state.apply(remove);
  assert.equal("s" in state.view().sets, false);
  state.apply(adder);
  assert.deepEqual(state.view().sets.s, ["y"]);
  assert.deepEqual(state.liveTags("s", "x"), []);
  assert.equal(state.viewText(), fold([adder, remove]).viewText());
});

Deno.test("ChannelState.apply() ignores a rmv that names this element's tag under another element", () => {
  const adder = delta({ ops: [add("s", "x")] });
  const wrongElem = delta({ author: B, ops: [rmv("s", "y", [tagOf(adder, 0)])] });
  const wrongSet = delta({ author: B, seq: 2, ops: [rmv("t", "x", [tagOf(adder, 0)])] });
  const state = foldEveryOrder([adder, wrongElem, wrongSet]);
  assert.deepEqual(state.view().sets.s, ["x"]);
  assert.equal("t" in state.view().sets, false);
  assert.deepEqual(state.liveTags("s", "x"), [tagOf(adder, 0)]);
});

Deno.test("ChannelState.apply() lets a fresh add bring a removed element back", () => {
  const first = delta({ ops: [add("s", "x")] });
  const remove = delta({ seq: 2, ops: [rmv("s", "x", [tagOf(first, 0)])] });
  const again = delta({ seq: 3, ops: [add("s", "x")] });
  const state = foldEveryOrder([first, remove, again]);
  assert.deepEqual(state.view().sets.s, ["x"]);
  assert.deepEqual(state.liveTags("s", "x"), [tagOf(again, 0)]);
});

Deno.test("ChannelState.liveTags() lists the unremoved tags of an element, sorted", () => {
  const one = delta({ ops: [add("s", "x"), add("s", "x"), add("s", "z")] });
  const two = delta({ author: B, ops: [add("s", "x")] });
  const remove = delta({ seq: 2, ops: [rmv("s", "x", [tagOf(one, 1), fakeId("unseen") + ":0"])] });
  const state = foldEveryOrder([one, two, remove]);
  assert.deepEqual(state.liveTags("s", "x"), [tagOf(one, 0), tagOf(two, 0)].sort());
  assert.deepEqual(state.liveTags("s", "z"), [tagOf(one, 2)]);
  assert.deepEqual(state.liveTags("s", "missing"), []);
  assert.deepEqual(state.liveTags("no such set", "x"), []);
  assert.deepEqual(state.view().sets.s, ["x", "z"]);
});

Deno.test("ChannelState.view() lists set elements in JavaScript string order", () => {
  const d = delta({ ops: ["b", "B", "10", "9", "_", "a", "é"].map((e) => add("s", e)) });
  assert.deepEqual(fold([d]).view().sets.s, ["10", "9", "B", "_", "a", "b", "é"]);
});

// ---- PN-counter -------------------------------------------------------------------------------

Deno.test("ChannelState.view() sums inc exactly beyond 2^53 and renders every digit", () => {
  const deltas: FoldedDelta[] = [];
  for (let seq = 1; seq <= 1_000; seq++) {
    deltas.push(
      delta({ seq, ops: [inc("big", MAX), inc("big", MAX), inc("mixed", seq % 2 ? MAX : -1)] }),
    );
  }
  const state = fold(deltas);
  const view = state.view();
  assert.equal(view.counters.big, 2_000n * BigInt(MAX));
  assert.equal(view.counters.mixed, 500n * BigInt(MAX) - 500n);
  assert.equal(typeof view.counters.big, "bigint");
  assert.ok(state.viewText().includes(`"big":18014398509481982000`));
  assert.ok(state.viewText().includes(`"mixed":4503599627370495000`));
  // Reversed arrival gives the same exact total.
  assert.equal(fold(deltas.toReversed()).viewText(), state.viewText());
});

Deno.test("ChannelState.view() sums negative inc below -2^53 exactly", () => {
  const deltas = [1, 2, 3].map((seq) => delta({ seq, ops: [inc("c", -MAX), inc("c", -MAX)] }));
  const state = foldEveryOrder(deltas);
  assert.equal(state.view().counters.c, -6n * BigInt(MAX));
  assert.ok(state.viewText().includes(`"c":-54043195528445946`));
});

// ---- heads and gaps ---------------------------------------------------------------------------

Deno.test("ChannelState.view() reports the highest contiguous seq and gaps as inclusive ranges", () => {
  const at = (author: string, seq: number) => delta({ author, seq, ops: [inc("n", 1)] });
  const state = new ChannelState(CHANNEL);
  for (const seq of [9, 2, 5, 1, 6]) state.apply(at(A, seq));
  state.apply(at(B, 3));
  let view = state.view();
  assert.deepEqual({ ...view.heads }, { [A]: 2, [B]: 0 });
  assert.deepEqual({ ...view.gaps }, { [A]: [[3, 4], [7, 8]], [B]: [[1, 2]] });

  for (const seq of [4, 3]) state.apply(at(A, seq));
  view = state.view();
  assert.equal(view.heads[A], 6);
  assert.deepEqual(view.gaps[A], [[7, 8]]);

  for (const seq of [8, 7]) state.apply(at(A, seq));
  for (const seq of [1, 2]) state.apply(at(B, seq));
  view = state.view();
  assert.deepEqual({ ...view.heads }, { [A]: 9, [B]: 3 });
  assert.deepEqual({ ...view.gaps }, {});
  assert.match(state.viewText(), /"gaps":\{\}/);
});

// ---- fingerprint ------------------------------------------------------------------------------

Deno.test("ChannelState.fingerprint() is equal for equal sets whatever the order", () => {
  const deltas = [1, 2, 3, 4].map((seq) => delta({ seq, ops: [set(`k${seq}`, seq)] }));
  const prints = new Set(permutations(deltas).map((order) => fold(order).fingerprint()));
  assert.equal(prints.size, 1);
  const withDuplicates = fold([...deltas, deltas[2], deltas[0]]);
  assert.equal(withDuplicates.fingerprint(), fold(deltas).fingerprint());
  assert.equal(withDuplicates.view().fingerprint, withDuplicates.fingerprint());
});

Deno.test("ChannelState.fingerprint() differs for different sets", () => {
  const deltas = [1, 2, 3].map((seq) => delta({ seq, ops: [set("k", seq)] }));
  const prints = [
    new ChannelState(CHANNEL).fingerprint(),
    fold([deltas[0]]).fingerprint(),
    fold([deltas[1]]).fingerprint(),
    fold([deltas[0], deltas[1]]).fingerprint(),
    fold([deltas[0], deltas[2]]).fingerprint(),
    fold(deltas).fingerprint(),
  ];
  assert.equal(new Set(prints).size, prints.length);
  for (const print of prints) assert.match(print, /^[A-Za-z0-9_-]{22}$/);
});

Deno.test("ChannelState.fingerprint() tells apart sets whose ids sum alike modulo 2^256", () => {
  // Ids as little-endian integers: 0, 1 and 2^256 - 1. {}, {0} and {1, 2^256 - 1} all sum to 0,
  // so only the count in the fingerprint separates them.
  const withId = (bytes: Uint8Array, seq: number) => ({
    ...delta({ seq, ops: [inc("c", 1)] }),
    id: encodeBase64Url(bytes),
  });
  const one = new Uint8Array(32);
  one[0] = 1;
  const zero = withId(new Uint8Array(32), 1);
  const pair = [withId(one, 2), withId(new Uint8Array(32).fill(255), 3)];
  const prints = [new ChannelState(CHANNEL), fold([zero]), fold(pair)].map((s) => s.fingerprint());
  assert.equal(new Set(prints).size, 3);
});

Deno.test("ChannelState.fingerprint() is the IdAccumulator fingerprint of the held ids", () => {
  const deltas = [1, 2, 3].map((seq) => delta({ seq, ops: [set("k", seq)] }));
  const ids = new IdAccumulator();
  for (const d of deltas) ids.add(decodeBase64Url(d.id)!);
  assert.equal(fold(deltas).fingerprint(), ids.fingerprint());
  assert.equal(new ChannelState(CHANNEL).fingerprint(), new IdAccumulator().fingerprint());
});

// ---- the view as data and as text -------------------------------------------------------------

Deno.test("ChannelState.view() returns objects with null prototypes", () => {
  const view = fold([delta({ ops: [set("k", 1), add("s", "x"), inc("c", 1)] })]).view();
  for (const part of [view.map, view.sets, view.counters, view.heads, view.gaps]) {
    assert.equal(Object.getPrototypeOf(part), null);
  }
});

Deno.test("ChannelState.view() treats __proto__ and constructor as plain names", () => {
  const value = JSON.parse('{"__proto__":{"polluted":true},"constructor":1}');
  const d = delta({
    ops: [
      set("__proto__", "p"),
      set("constructor", value),
      add("__proto__", "constructor"),
      inc("constructor", 2),
      inc("__proto__", -3),
    ],
  });
  const state = fold([d]);
  const view = state.view();
  assert.deepEqual(Object.keys(view.map).sort(), ["__proto__", "constructor"]);
  assert.equal(view.map["__proto__"], "p");
  assert.deepEqual(Object.keys(view.sets), ["__proto__"]);
  assert.deepEqual(view.sets["__proto__"], ["constructor"]);
  assert.equal(view.counters["constructor"], 2n);
  assert.equal(view.counters["__proto__"], -3n);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const text = state.viewText();
  assert.ok(text.includes(`"counters":{"__proto__":-3,"constructor":2}`), text);
  assert.ok(
    text.includes(
      `"map":{"__proto__":"p","constructor":{"__proto__":{"polluted":true},"constructor":1}}`,
    ),
    text,
  );
  assert.ok(text.includes(`"sets":{"__proto__":["constructor"]}`), text);
});

Deno.test("ChannelState.viewText() sorts keys in string order, not integer-key order", () => {
  const value = JSON.parse('{"9":"n","10":"t","b":1,"B":2}');
  const d = delta({
    ops: [set("9", 9), set("10", value), set("a", 1), set("B", 2), inc("2", 1), inc("10", 1)],
  });
  const text = fold([d]).viewText();
  assert.ok(text.includes(`"map":{"10":{"10":"t","9":"n","B":2,"b":1},"9":9,"B":2,"a":1}`), text);
  assert.ok(text.includes(`"counters":{"10":1,"2":1}`), text);
});

Deno.test("ChannelState.viewText() renders a golden canonical view", () => {
  const one = delta({
    author: A,
    seq: 1,
    ts: 5,
    ops: [set("k", { b: [1, "x"], a: true }), add("s", "y"), add("s", "x")],
  });
  const two = delta({
    author: B,
    seq: 2,
    ts: 6,
    ops: [del("gone"), inc("c", -4), rmv("s", "y", [tagOf(one, 1)])],
  });
  const state = foldEveryOrder([one, two]);
  assert.equal(
    state.viewText(),
    `{"channel":"room.1","counters":{"c":-4},"deltas":2,"fingerprint":"${state.fingerprint()}",` +
      `"gaps":{"${B}":[[1,1]]},"heads":{"${A}":1,"${B}":0},` +
      `"map":{"k":{"a":true,"b":[1,"x"]}},"sets":{"s":["x"]}}`,
  );
});

// ---- apply, has, size, merge ------------------------------------------------------------------

Deno.test("ChannelState.apply() is idempotent by id and reports whether it changed anything", () => {
  const d = delta({ ops: [inc("c", 5), add("s", "x")] });
  const state = new ChannelState(CHANNEL);
  assert.equal(state.has(d.id), false);
  assert.equal(state.apply(d), true);
  const text = state.viewText();
  assert.equal(state.apply(d), false);
  assert.equal(state.apply({ ...d, ops: [...d.ops] }), false);
  assert.equal(state.viewText(), text);
  assert.equal(state.size, 1);
  assert.equal(state.has(d.id), true);
  assert.equal(state.view().counters.c, 5n);
  assert.deepEqual([...state.deltas()], [d]);
});

Deno.test("ChannelState.apply() throws on a delta of another channel and changes nothing", () => {
  const state = fold([delta({ ops: [set("k", 1)] })]);
  const before = state.viewText();
  const foreign = folded({
    channel: "room.2",
    author: A,
    seq: 2,
    ts: 1,
    lc: 0,
    ops: [set("k", 2)],
  });
  assert.throws(() => state.apply(foreign), /room\.2/);
  assert.equal(state.viewText(), before);
  assert.equal(state.has(foreign.id), false);
});

Deno.test("ChannelState.merge() holds the union of both delta sets", () => {
  const deltas = [1, 2, 3, 4].map((seq) =>
    delta({ seq, ops: [set(`k${seq}`, seq), inc("c", seq)] })
  );
  const a = fold(deltas.slice(0, 3));
  const b = fold(deltas.slice(1));
  const merged = ChannelState.merge(a, b);
  assert.equal(merged.size, 4);
  assert.equal(merged.viewText(), fold(deltas).viewText());
  assert.equal(ChannelState.merge(b, a).viewText(), merged.viewText());
  // The inputs are not changed.
  assert.equal(a.size, 3);
  assert.equal(b.size, 3);
});

Deno.test("ChannelState.viewText() does not depend on arrival order when an author equivocates", () => {
  // Two deltas with one (author, seq), ts and lc give their ops equal stamps but for the delta
  // id, which breaks the tie. Regions refuse the second (seq_conflict); an agent reading two
  // regions, or merge(), can still hold both.
  const one = delta({ seq: 1, ops: [set("k", "one")] });
  const two = delta({ seq: 1, ops: [set("k", "two")] });
  foldEveryOrder([one, two]);
});

Deno.test("ChannelState.apply() of a delta with a malformed id throws and changes nothing", () => {
  const state = new ChannelState(CHANNEL);
  const before = state.viewText();
  const d = delta({ seq: 1, ops: [set("k", 1)] });
  assert.throws(() => state.apply({ ...d, id: "short" }), /32 bytes/);
  assert.equal(state.size, 0);
  assert.equal(state.viewText(), before);
  assert.equal(state.apply(d), true);
});
