/**
 * FilteredChannelState: the fold without excluded authors, kept incrementally and built again from
 * the deltas when it says it is stale, must equal a fold from scratch of the kept deltas, whatever
 * the interleaving of deltas and exclusions; and a snapshot of it must carry what it left out.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ChannelState } from "../../src/crdt/channel_state.ts";
import { FilteredChannelState } from "../../src/crdt/filtered_channel_state.ts";
import { authorId, folded, type FoldedDelta, type Op, tagOf } from "../support/folded_deltas.ts";

const CHANNEL = "filtered";
const NUM_RUNS = 300;
const AUTHORS = [authorId("A"), authorId("_"), authorId("a"), authorId("z")];

/** One step: a delta arrives (each once, as a store's arrivals do), or the quarantine grows. */
type Step =
  | { readonly kind: "delta"; readonly delta: FoldedDelta }
  | { readonly kind: "exclude"; readonly authors: readonly string[] };

const opArb = fc.oneof(
  fc.record({
    op: fc.constant("set" as const),
    key: fc.constantFrom("k", "j"),
    value: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({ op: fc.constant("del" as const), key: fc.constantFrom("k", "j") }),
  fc.record({
    op: fc.constant("add" as const),
    set: fc.constant("s"),
    elem: fc.constantFrom("x", "y"),
  }),
  fc.record({
    op: fc.constant("rmv" as const),
    set: fc.constant("s"),
    elem: fc.constantFrom("x", "y"),
  }),
  fc.record({
    op: fc.constant("inc" as const),
    counter: fc.constant("c"),
    by: fc.integer({ min: -2, max: 2 }),
  }),
);

const deltaSpecArb = fc.record({
  author: fc.nat({ max: AUTHORS.length - 1 }),
  /** Reuse the author's last seq: an equivocation, the reason authors get quarantined. */
  equivocate: fc.boolean(),
  ts: fc.constantFrom(0, 1, 2),
  ops: fc.array(opArb, { minLength: 1, maxLength: 3 }),
});

const stepSpecArb = fc.oneof(
  { weight: 5, arbitrary: deltaSpecArb.map((d) => ({ kind: "delta" as const, ...d })) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("exclude" as const),
      authors: fc.subarray(AUTHORS, { maxLength: 2 }),
    }),
  },
);

type StepSpec = typeof stepSpecArb extends fc.Arbitrary<infer T> ? T : never;

/** Specs to steps: per-author seqs, `rmv` ops naming earlier adds (across authors). */
function buildSteps(specs: readonly StepSpec[]): Step[] {
  const seqs = AUTHORS.map(() => 0);
  const adds: { tag: string; elem: string }[] = [];
  const steps: Step[] = [];
  for (const spec of specs) {
    if (spec.kind === "exclude") {
      steps.push(spec);
      continue;
    }
    const seq = spec.equivocate && seqs[spec.author] > 0 ? seqs[spec.author] : ++seqs[spec.author];
    const ops = spec.ops.map((o): Op =>
      o.op === "rmv"
        ? { ...o, tags: adds.filter((a) => a.elem === o.elem).map((a) => a.tag) }
        : o as Op
    );
    const delta = folded({
      channel: CHANNEL,
      author: AUTHORS[spec.author],
      seq,
      ts: spec.ts,
      lc: 0,
      ops,
    });
    ops.forEach((op, i) => {
      if (op.op === "add") adds.push({ tag: tagOf(delta, i), elem: op.elem });
    });
    // Two specs can make one body (same author, seq, ts and ops): one delta, arriving once.
    if (!steps.some((s) => s.kind === "delta" && s.delta.id === delta.id)) {
      steps.push({ kind: "delta", delta });
    }
  }
  return steps;
}

const stepsArb = fc.array(stepSpecArb, { maxLength: 30 }).map(buildSteps);

/** The fold from scratch of `deltas` minus those of `excluded` authors. */
function filteredFold(deltas: readonly FoldedDelta[], excluded: ReadonlySet<string>): string {
  const state = new ChannelState(CHANNEL);
  for (const d of deltas) if (!excluded.has(d.author)) state.apply(d);
  return state.viewText();
}

/** Runs `steps` the way a view cache does: incrementally, built again from `seen` when stale. */
function run(
  steps: readonly Step[],
  check?: (f: FilteredChannelState, seen: FoldedDelta[], excluded: Set<string>) => void,
) {
  let state = new FilteredChannelState(CHANNEL);
  const seen: FoldedDelta[] = [];
  const excluded = new Set<string>();
  for (const step of steps) {
    if (step.kind === "delta") {
      seen.push(step.delta);
      state.apply(step.delta);
    } else {
      for (const a of step.authors) excluded.add(a);
      if (state.exclude(step.authors)) {
        state = new FilteredChannelState(CHANNEL);
        state.exclude(excluded);
        for (const d of seen) state.apply(d);
      }
    }
    check?.(state, seen, excluded);
  }
  return state;
}

Deno.test("FilteredChannelState equals a from-scratch filtered fold after every step of any interleaving", () => {
  fc.assert(
    fc.property(stepsArb, (steps) => {
      run(steps, (state, seen, excluded) => {
        assert.equal(state.state.viewText(), filteredFold(seen, excluded));
        assert.equal(state.applied, seen.length);
        const left = seen.filter((d) => excluded.has(d.author));
        assert.deepEqual([...state.dropped].sort(), [...new Set(left.map((d) => d.author))].sort());
      });
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("FilteredChannelState renders byte-identical views for every order of the same deltas and exclusions", () => {
  const arb = stepsArb.chain((steps) =>
    fc.tuple(
      fc.constant(steps),
      fc.shuffledSubarray(steps, { minLength: steps.length, maxLength: steps.length }),
    )
  );
  fc.assert(
    fc.property(arb, ([steps, shuffled]) => {
      assert.equal(run(shuffled).state.viewText(), run(steps).state.viewText());
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("FilteredChannelState.restore() of a snapshot, under the same exclusions, folds on like the original", () => {
  const arb = stepsArb.chain((steps) =>
    fc.tuple(fc.constant(steps), fc.nat({ max: steps.length }))
  );
  fc.assert(
    fc.property(arb, ([steps, cut]) => {
      const before = run(steps.slice(0, cut));
      const text = JSON.stringify(before.snapshot());
      const restored = FilteredChannelState.restore(CHANNEL, JSON.parse(text));
      assert.equal(restored.state.viewText(), before.state.viewText());
      assert.equal(restored.applied, before.applied);
      for (const author of before.dropped) assert.ok(restored.excludes(author));
      // The snapshot names only the excluded authors it left deltas of: the reader excludes its
      // own quarantine, which holds at least the writer's, and the fold is current under it.
      const excluded = steps.slice(0, cut).flatMap((s) => s.kind === "exclude" ? s.authors : []);
      assert.equal(restored.exclude(excluded), false);
      const after = steps.slice(cut).filter((s) => s.kind === "delta");
      for (const step of after) {
        before.apply(step.delta);
        restored.apply(step.delta);
      }
      assert.equal(restored.state.viewText(), before.state.viewText());
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("FilteredChannelState.apply() never holds an excluded author's delta", () => {
  const state = new FilteredChannelState(CHANNEL);
  const [a, b] = AUTHORS;
  state.exclude([a]);
  const ops: Op[] = [{ op: "set", key: "k", value: 1 }];
  assert.equal(
    state.apply(folded({ channel: CHANNEL, author: a, seq: 1, ts: 0, lc: 0, ops })),
    false,
  );
  assert.equal(
    state.apply(folded({ channel: CHANNEL, author: b, seq: 1, ts: 0, lc: 0, ops })),
    true,
  );
  assert.deepEqual([state.size, state.applied, [...state.dropped]], [1, 2, [a]]);
  assert.equal(state.state.hasAuthor(a), false);
});

Deno.test("FilteredChannelState.exclude() says stale only when a newly excluded author has deltas folded", () => {
  const state = new FilteredChannelState(CHANNEL);
  const [a, b, c] = AUTHORS;
  const ops: Op[] = [{ op: "inc", counter: "c", by: 1 }];
  for (const author of [a, b, b]) {
    state.apply(folded({ channel: CHANNEL, author, seq: state.size + 1, ts: 0, lc: 0, ops }));
  }
  assert.equal(state.exclude([c]), false, "an author with nothing folded leaves the fold current");
  assert.equal(state.exclude([b]), true, "b's deltas are folded: stale");
  assert.equal(state.exclude([b, c]), false, "excluding again says nothing new");
});

Deno.test("FilteredChannelState.restore() refuses a snapshot that both folds and drops an author", () => {
  const state = new FilteredChannelState(CHANNEL);
  const [a] = AUTHORS;
  state.apply(
    folded({
      channel: CHANNEL,
      author: a,
      seq: 1,
      ts: 0,
      lc: 0,
      ops: [{ op: "inc", counter: "c", by: 1 }],
    }),
  );
  const snapshot = { ...state.snapshot(), dropped: [a], droppedDeltas: 1 };
  assert.throws(() => FilteredChannelState.restore(CHANNEL, snapshot), TypeError);
  assert.throws(
    () => FilteredChannelState.restore(CHANNEL, { ...state.snapshot(), droppedDeltas: -1 }),
    TypeError,
  );
});
