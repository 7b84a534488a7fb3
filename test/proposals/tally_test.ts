/** The pure tally (src/proposals/tally.ts): ballot choice, threshold arithmetic, quorum safety. */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Proposal } from "../../src/protocol/proposal.ts";
import { electorateOf } from "../../src/proposals/electorate.ts";
import {
  activityWeight,
  type BallotRecord,
  DECIDE_MARGIN_MS,
  neededWeight,
  stateAt,
  supersedes,
  tally,
} from "../../src/proposals/tally.ts";

const DEADLINE = 1_000_000;
const GRACE = 30_000;
const voterIds = Array.from({ length: 12 }, (_, i) => `voter-${String(i).padStart(2, "0")}`);

function proposal(overrides: Partial<Proposal> = {}): Proposal {
  return {
    id: "p",
    author: "proposer",
    seq: 1,
    ts: 0,
    title: "t",
    body: "",
    options: ["yes", "no"],
    deadline: DEADLINE,
    grace: GRACE,
    eligible: { agents: voterIds },
    weights: "equal",
    threshold: [2, 3],
    ...overrides,
  };
}

function ballot(voter: string, option: string, seq = 1, ts = DEADLINE - 1): BallotRecord {
  return {
    voter,
    option,
    seq,
    ts,
    id: `${voter}-${seq}-${option}-${ts}`,
    deadline: DEADLINE,
    grace: GRACE,
  };
}

/** Each voter's ballot as the book folds them: `supersedes` over the records in any order. */
function fold(p: Proposal, records: readonly BallotRecord[]): BallotRecord[] {
  const chosen = new Map<string, BallotRecord>();
  for (const r of records) if (supersedes(p, r, chosen.get(r.voter))) chosen.set(r.voter, r);
  return [...chosen.values()];
}

const AFTER = DEADLINE + GRACE + DECIDE_MARGIN_MS;
const equal = electorateOf(voterIds, () => 1);

Deno.test("an option wins with at least two thirds of the eligible weight, else no_quorum", () => {
  const p = proposal();
  const eight = voterIds.slice(0, 8).map((v) => ballot(v, "yes"));
  assert.equal(tally(p, eight, equal, new Set(), AFTER).outcome, "yes");
  const seven = eight.slice(0, 7);
  assert.equal(tally(p, seven, equal, new Set(), AFTER).outcome, "no_quorum");
  assert.equal(tally(p, seven, equal, new Set(), AFTER).needed, 8);
});

Deno.test("the state runs open → closing → decided on the region clock; a quarantined proposer voids it", () => {
  const p = proposal();
  assert.equal(stateAt(p, new Set(), DEADLINE - 1), "open");
  assert.equal(stateAt(p, new Set(), DEADLINE), "closing");
  assert.equal(stateAt(p, new Set(), AFTER - 1), "closing");
  assert.equal(stateAt(p, new Set(), AFTER), "decided");
  assert.equal(stateAt(p, new Set(), AFTER, false), "closing");
  assert.equal(stateAt(p, new Set(["proposer"]), AFTER), "void");
  const open = tally(p, [ballot(voterIds[0], "yes")], equal, new Set(), DEADLINE - 1);
  assert.equal(open.outcome, null);
});

Deno.test("the last ballot by the voter's own seq counts; ballots signed after the deadline do not", () => {
  const p = proposal();
  const v = voterIds[0];
  const records = [ballot(v, "yes", 1), ballot(v, "no", 3), ballot(v, "yes", 2)];
  assert.equal(fold(p, records)[0].option, "no");
  const late = [ballot(v, "yes", 1), ballot(v, "no", 2, DEADLINE + 1)];
  assert.equal(fold(p, late)[0].option, "yes");
  const wrongCopy = { ...ballot(v, "no", 5), deadline: DEADLINE + 1 };
  assert.equal(fold(p, [ballot(v, "yes", 1), wrongCopy])[0].option, "yes");
});

Deno.test("quarantined voters' weight stays eligible but unused; a ballot naming no option is spoiled", () => {
  const p = proposal();
  const ballots = voterIds.slice(0, 8).map((v) => ballot(v, "yes"));
  ballots.push(ballot(voterIds[8], "maybe"));
  const t = tally(p, ballots, equal, new Set([voterIds[0]]), AFTER);
  assert.equal(t.outcome, "no_quorum");
  assert.deepEqual(
    { cast: t.cast, excluded: t.excluded, spoiled: t.spoiled, eligible: t.eligible.weight },
    { cast: 7, excluded: 1, spoiled: 1, eligible: 12 },
  );
  const outsider = tally(p, [ballot("stranger", "yes")], equal, new Set(), AFTER);
  assert.equal(outsider.voters, 0);
});

Deno.test("thresholds are exact fractions and activity weights exact integers", () => {
  assert.equal(neededWeight([2, 3], 3), 2);
  assert.equal(neededWeight([2, 3], 4), 3);
  assert.equal(neededWeight([1, 1], 5), 5);
  assert.equal(neededWeight([501, 1000], 1000), 501);
  assert.equal(neededWeight([2, 3], 0), 1);
  assert.deepEqual([0, 1, 2, 3, 6, 7, 1023].map(activityWeight), [1, 2, 2, 3, 3, 4, 11]);
});

Deno.test("property: the chosen ballots do not depend on arrival order", () => {
  const p = proposal();
  const record = fc.record({
    voter: fc.constantFrom(...voterIds.slice(0, 4)),
    option: fc.constantFrom("yes", "no", "x"),
    seq: fc.integer({ min: 1, max: 4 }),
    ts: fc.integer({ min: DEADLINE - 10, max: DEADLINE + 10 }),
  }).map((r) => ballot(r.voter, r.option, r.seq, r.ts));
  fc.assert(
    fc.property(fc.array(record, { maxLength: 30 }), fc.infiniteStream(fc.nat()), (rs, rnd) => {
      const shuffled = [...rs];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rnd.next().value % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      const sort = (bs: BallotRecord[]) => bs.sort((a, b) => a.voter < b.voter ? -1 : 1);
      assert.deepEqual(sort(fold(p, rs)), sort(fold(p, shuffled)));
    }),
  );
});

Deno.test("property: with under a third of the weight Byzantine, no two views lead with different options", () => {
  // Honest voters cast one ballot each; each view (a region's holding) has some of them and
  // whatever ballots the Byzantine voters chose to show it. Quorum intersection: two options
  // holding two thirds each would need the Byzantine weight counted twice to exceed a third.
  const weights = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 12, maxLength: 12 });
  fc.assert(
    fc.property(
      weights,
      fc.integer({ min: 0, max: 11 }),
      fc.array(fc.constantFrom("yes", "no", "abstain-ish"), { minLength: 12, maxLength: 12 }),
      fc.array(
        fc.record({
          seen: fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
          byz: fc.array(fc.constantFrom("yes", "no"), { minLength: 12, maxLength: 12 }),
        }),
        { minLength: 2, maxLength: 4 },
      ),
      (ws, byzCount, honest, views) => {
        const electorate = electorateOf(voterIds, (v) => ws[voterIds.indexOf(v)]);
        const byz = new Set(voterIds.slice(0, byzCount));
        const byzWeight = [...byz].reduce((s, v) => s + electorate.weightOf(v), 0);
        fc.pre(3 * byzWeight < electorate.total);
        const p = proposal({ options: ["yes", "no", "abstain-ish"] });
        const leaders = new Set<string>();
        for (const view of views) {
          const ballots = voterIds.flatMap((v, i) => {
            if (byz.has(v)) return [ballot(v, view.byz[i])];
            return view.seen[i] ? [ballot(v, honest[i])] : [];
          });
          const t = tally(p, ballots, electorate, new Set(), AFTER);
          if (t.leading !== null) leaders.add(t.leading);
          if (t.leading !== null) {
            // The winner had honest support: its honest weight alone reaches needed − Byzantine.
            const honestFor = voterIds.filter((v, i) => !byz.has(v) && honest[i] === t.leading)
              .reduce((s, v) => s + electorate.weightOf(v), 0);
            assert.ok(honestFor >= t.needed - byzWeight);
          }
        }
        assert.ok(leaders.size <= 1, `two leaders: ${[...leaders]}`);
      },
    ),
    { numRuns: 300 },
  );
});
