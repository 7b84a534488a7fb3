/**
 * FilteredChannelState: the fold without excluded authors, kept incrementally, must equal a fold
 * from scratch of the kept deltas, whatever the interleaving of deltas and exclusions.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ChannelState } from "../../src/crdt/channel_state.ts";
import { FilteredChannelState } from "../../src/crdt/filtered_channel_state.ts";
import { authorId, folded, type FoldedDelta, type Op, tagOf } from "../support/folded_deltas.ts";

const CHANNEL = "filtered";
const NUM_RUNS = 300;
const AUTHORS = [authorId("A"), authorId("_"), authorId("a"), authorId("z")];

/** One step: a delta arrives (maybe again), or the quarantine grows by some authors. */
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
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("replay" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("exclude" as const),
      authors: fc.subarray(AUTHORS, { maxLength: 2 }),
    }),
  },
);

/** Specs to steps: per-author seqs, `rmv` ops naming earlier adds (across authors). */
function buildSteps(specs: readonly StepSpec[]): Step[] {
  const seqs = AUTHORS.map(() => 0);
  const adds: { tag: string; elem: string }[] = [];
  const deltas: FoldedDelta[] = [];
  const steps: Step[] = [];
  for (const spec of specs) {
    if (spec.kind === "exclude") {
      steps.push(spec);
      continue;
    }
    if (spec.kind === "replay") {
      if (deltas.length > 0) {
        steps.push({ kind: "delta", delta: deltas[spec.pick % deltas.length] });
      }
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
    deltas.push(delta);
    steps.push({ kind: "delta", delta });
  }
  return steps;
}

type StepSpec = typeof stepSpecArb extends fc.Arbitrary<infer T> ? T : never;

const stepsArb = fc.array(stepSpecArb, { maxLength: 30 }).map(buildSteps);

/** The fold from scratch of `deltas` minus those of `excluded` authors. */
function filteredFold(deltas: readonly FoldedDelta[], excluded: ReadonlySet<string>): string {
  const state = new ChannelState(CHANNEL);
  for (const d of deltas) if (!excluded.has(d.author)) state.apply(d);
  return state.viewText();
}

Deno.test("FilteredChannelState equals a from-scratch filtered fold after every step of any interleaving", () => {
  fc.assert(
    fc.property(stepsArb, (steps) => {
      const incremental = new FilteredChannelState(CHANNEL);
      const seen: FoldedDelta[] = [];
      const excluded = new Set<string>();
      for (const step of steps) {
        if (step.kind === "delta") {
          seen.push(step.delta);
          incremental.apply(step.delta);
        } else {
          for (const a of step.authors) excluded.add(a);
          incremental.exclude(step.authors);
        }
        assert.equal(incremental.state.viewText(), filteredFold(seen, excluded));
      }
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
      const texts = [steps, shuffled].map((order) => {
        const state = new FilteredChannelState(CHANNEL);
        for (const step of order) {
          if (step.kind === "delta") state.apply(step.delta);
          else state.exclude(step.authors);
        }
        return state.state.viewText();
      });
      assert.equal(texts[1], texts[0]);
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
  assert.equal(state.size, 1);
  assert.equal(state.state.hasAuthor(a), false);
});

Deno.test("FilteredChannelState.exclude() refolds only when a newly excluded author has deltas held", () => {
  const state = new FilteredChannelState(CHANNEL);
  const [a, b, c] = AUTHORS;
  const ops: Op[] = [{ op: "inc", counter: "c", by: 1 }];
  for (const author of [a, b, b]) {
    state.apply(folded({ channel: CHANNEL, author, seq: state.size + 1, ts: 0, lc: 0, ops }));
  }
  const before = state.state;
  assert.equal(state.exclude([c]), 0, "an author with nothing held costs no refold");
  assert.equal(state.state, before);
  assert.equal(state.exclude([b]), 1, "one refold of the one kept delta");
  assert.equal(state.exclude([b, c]), 0, "excluding again changes nothing");
  assert.deepEqual(Object.keys(state.state.view().heads), [a]);
});
