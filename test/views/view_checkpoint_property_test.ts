/**
 * Views with checkpoints against a fold of every arrival, over random histories: deltas arrive,
 * authors equivocate (and are quarantined), the job writes checkpoints, checkpoints get corrupted
 * or lost, and instances read warm or cold — every read renders byte for byte what a fresh fold of
 * the store renders.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Op } from "../../src/protocol/delta.ts";
import { listChannels } from "../../src/views/channel_directory.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { CheckpointJob } from "../../src/views/checkpoint_job.ts";
import { CHECKPOINT_INDEX_ROOT, pointerKey } from "../../src/views/view_checkpoint.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { fakeAuthor } from "../support/deltas.ts";
import { CHANNEL, equivocation, record, viewFromScratch } from "./_checkpoint_fixtures.ts";

const NUM_RUNS = 150;
const AUTHORS = 4;

type Step =
  | { readonly kind: "deltas"; readonly author: number; readonly ops: readonly Op[][] }
  | { readonly kind: "equivocate"; readonly author: number }
  | { readonly kind: "checkpoint" }
  | { readonly kind: "corrupt"; readonly how: "chunk" | "pointer" | "drop" }
  | { readonly kind: "read"; readonly cold: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("set" as const),
    key: fc.constantFrom("a", "b", "c"),
    value: fc.integer({ min: 0, max: 9 }),
  }),
  fc.record({ op: fc.constant("del" as const), key: fc.constantFrom("a", "b") }),
  fc.record({
    op: fc.constant("add" as const),
    set: fc.constant("s"),
    elem: fc.constantFrom("x", "y", "z"),
  }),
  fc.record({
    op: fc.constant("inc" as const),
    counter: fc.constant("n"),
    by: fc.integer({ min: -3, max: 3 }),
  }),
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("deltas" as const),
      author: fc.nat({ max: AUTHORS - 1 }),
      ops: fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), {
        minLength: 1,
        maxLength: 5,
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("equivocate" as const),
      author: fc.nat({ max: AUTHORS - 1 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: "checkpoint" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("corrupt" as const),
      how: fc.constantFrom("chunk" as const, "pointer" as const, "drop" as const),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("read" as const), cold: fc.boolean() }) },
);

/** Runs `steps` on one store; every read is checked against a fresh fold of every arrival. */
async function run(steps: readonly Step[]): Promise<void> {
  const store = new MemoryStore();
  const seqs = new Array<number>(AUTHORS).fill(0);
  const adds: { elem: string; tag: string }[] = [];
  const warm = new ChannelViews(store);
  const job = new CheckpointJob({
    region: "p",
    store,
    instance: "p",
    channels: (after, limit) => listChannels(store, "", after, limit),
  });
  for (const step of steps) {
    if (step.kind === "deltas") {
      const deltas = step.ops.map((ops) => {
        // A remove of a random earlier add now and then: tags cross checkpoints.
        const withRemove = adds.length > 0 && ops.length % 2 === 1
          ? [...ops, { op: "rmv" as const, set: "s", elem: adds[0].elem, tags: [adds[0].tag] }]
          : ops;
        const delta = record(fakeAuthor(step.author), ++seqs[step.author], withRemove);
        withRemove.forEach((op, i) => {
          if (op.op === "add") adds.push({ elem: op.elem, tag: `${delta.id}:${i}` });
        });
        return delta;
      });
      await store.putDeltas(deltas);
    } else if (step.kind === "equivocate" && seqs[step.author] > 0) {
      await store.putDeltas([equivocation(fakeAuthor(step.author), seqs[step.author])]);
    } else if (step.kind === "checkpoint") {
      const [count] = await store.arrivalCounts([CHANNEL]);
      if (count > 0) await job.write(CHANNEL);
    } else if (step.kind === "corrupt") {
      await corrupt(store, step.how);
    } else if (step.kind === "read") {
      const views = step.cold ? new ChannelViews(store) : warm;
      const text = (await views.read(CHANNEL)).state.viewText();
      assert.equal(text, await viewFromScratch(store));
    }
  }
  assert.equal((await warm.read(CHANNEL)).state.viewText(), await viewFromScratch(store));
  assert.equal(
    (await new ChannelViews(store).read(CHANNEL)).state.viewText(),
    await viewFromScratch(store),
  );
}

async function corrupt(store: MemoryStore, how: "chunk" | "pointer" | "drop"): Promise<void> {
  const [raw] = await store.readIndex([pointerKey(CHANNEL)]);
  if (raw === null) return;
  if (how === "drop") {
    await store.writeIndex({ delete: [pointerKey(CHANNEL)] });
  } else if (how === "pointer") {
    const pointer = { ...JSON.parse(raw), deltas: JSON.parse(raw).deltas + 1 };
    await store.writeIndex({ set: [{ key: pointerKey(CHANNEL), value: JSON.stringify(pointer) }] });
  } else {
    const page = await store.listIndex([CHECKPOINT_INDEX_ROOT, "chunk", CHANNEL], { limit: 1 });
    const [first] = page.entries;
    if (first === undefined) return;
    await store.writeIndex({ set: [{ key: first.key, value: first.value.replace(/\d/, "7") }] });
  }
}

Deno.test("ChannelViews with checkpoints renders what a fold of every arrival renders, over any history", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 15, maxLength: 40 }), run),
    { numRuns: NUM_RUNS },
  );
});
