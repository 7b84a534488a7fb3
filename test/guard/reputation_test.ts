import assert from "node:assert/strict";
import {
  budgetFactorOf,
  decayed,
  DEFAULT_REPUTATION_POLICY,
  REPUTATION_CREDIT_MAX,
  REPUTATION_HALF_LIFE_MS,
  REPUTATION_THROTTLE_SCORE_BELOW,
  REPUTATION_THROTTLED_BUDGET_FACTOR,
  ReputationTable,
  scoreOf,
  withEvent,
} from "../../src/guard/reputation.ts";

const T0 = 1_767_225_600_000;
const HL = REPUTATION_HALF_LIFE_MS;

Deno.test("ReputationTable.score() of an unknown subject is 0 and its budget factor is 1", () => {
  const table = new ReputationTable();
  assert.equal(table.score("a", T0), 0);
  assert.equal(table.budgetFactor("a", T0), 1);
  assert.equal(table.size, 0, "reading does not remember a subject");
});

Deno.test("ReputationTable.budgetFactor() throttles a subject once invalid signatures push its score below the threshold", () => {
  const table = new ReputationTable();
  const atThreshold = -REPUTATION_THROTTLE_SCORE_BELOW;
  table.record("bad", "invalid_signature", T0, atThreshold);
  assert.equal(table.score("bad", T0), REPUTATION_THROTTLE_SCORE_BELOW);
  assert.equal(table.budgetFactor("bad", T0), 1, "at the threshold is not below it");
  table.record("bad", "invalid_signature", T0);
  assert.equal(table.budgetFactor("bad", T0), REPUTATION_THROTTLED_BUDGET_FACTOR);
  table.record("schema", "invalid_schema", T0, atThreshold + 1);
  assert.equal(table.budgetFactor("schema", T0), REPUTATION_THROTTLED_BUDGET_FACTOR);
});

Deno.test("ReputationTable.score() earns at most REPUTATION_CREDIT_MAX from accepted deltas", () => {
  const table = new ReputationTable();
  table.record("good", "accepted", T0, 100_000);
  assert.equal(table.score("good", T0), REPUTATION_CREDIT_MAX);
  // A long good record buys some tolerance, never a free flood of bad deltas.
  const tolerated = REPUTATION_CREDIT_MAX - REPUTATION_THROTTLE_SCORE_BELOW;
  table.record("good", "invalid_signature", T0, tolerated);
  assert.equal(table.budgetFactor("good", T0), 1);
  table.record("good", "invalid_signature", T0);
  assert.equal(table.budgetFactor("good", T0), REPUTATION_THROTTLED_BUDGET_FACTOR);
});

Deno.test("ReputationTable.score() counts duplicates as nothing and rate-limited deltas a little", () => {
  const table = new ReputationTable();
  table.record("replayed", "duplicate", T0, 10_000);
  assert.equal(table.score("replayed", T0), 0, "anyone can replay an author's public deltas");
  table.record("pushy", "rate_limited", T0, 256);
  assert.ok(table.score("pushy", T0) < 0);
  assert.equal(table.budgetFactor("pushy", T0), 1, "one push over the limit is not throttled");
  table.record("pushy", "rate_limited", T0, 256);
  assert.equal(table.budgetFactor("pushy", T0), REPUTATION_THROTTLED_BUDGET_FACTOR);
});

Deno.test("ReputationTable.counts() halve every REPUTATION_HALF_LIFE_MS and the subject recovers", () => {
  const table = new ReputationTable();
  table.record("s", "invalid_signature", T0, 100);
  table.record("s", "accepted", T0, 8);
  assert.equal(table.budgetFactor("s", T0), REPUTATION_THROTTLED_BUDGET_FACTOR);
  assert.deepEqual(table.counts("s", T0 + HL), {
    accepted: 4,
    duplicate: 0,
    invalid_signature: 50,
    invalid_schema: 0,
    rate_limited: 0,
  });
  assert.equal(table.counts("s", T0 + 2 * HL).invalid_signature, 25);
  assert.equal(table.budgetFactor("s", T0 + 2 * HL), REPUTATION_THROTTLED_BUDGET_FACTOR);
  assert.equal(table.budgetFactor("s", T0 + 3 * HL), 1, "12.5 invalid: above the threshold");
  table.record("s", "accepted", T0 + 3 * HL);
  assert.equal(table.counts("s", T0 + 3 * HL).accepted, 2);
  assert.equal(table.counts("s", T0 + 3 * HL).invalid_signature, 12.5, "decayed, then added to");
});

Deno.test("ReputationTable decays nothing when the caller's clock goes back", () => {
  const table = new ReputationTable();
  table.record("s", "invalid_schema", T0 + HL, 30);
  assert.equal(table.counts("s", T0).invalid_schema, 30);
  table.record("s", "invalid_schema", T0, 2);
  assert.equal(table.counts("s", T0 + HL).invalid_schema, 32);
  assert.equal(table.counts("s", T0 + 2 * HL).invalid_schema, 16);
});

Deno.test("ReputationTable keeps at most subjectsMax subjects, forgetting the least recently seen", () => {
  const table = new ReputationTable({ subjectsMax: 3 });
  for (const s of ["a", "b", "c"]) table.record(s, "accepted", T0);
  table.record("a", "accepted", T0 + 1); // a is now the most recently seen
  table.record("d", "accepted", T0 + 2);
  assert.equal(table.size, 3);
  assert.equal(table.counts("b", T0 + 2).accepted, 0, "b was the least recently seen");
  assert.ok(table.counts("a", T0 + 2).accepted > 1.99);
  assert.ok(table.counts("c", T0 + 2).accepted > 0.99);
  assert.equal(table.counts("d", T0 + 2).accepted, 1);
});

Deno.test("ReputationTable keeps a penalised subject while a flood of fresh subjects fills it", () => {
  const table = new ReputationTable({ subjectsMax: 8 });
  table.record("bad", "invalid_signature", T0, 50);
  for (let i = 0; i < 1_000; i++) table.record(`sybil-${i}`, "accepted", T0);
  assert.equal(table.size, 8);
  assert.equal(table.budgetFactor("bad", T0), REPUTATION_THROTTLED_BUDGET_FACTOR);
});

Deno.test("ReputationTable refuses a policy without room or decay", () => {
  assert.throws(() => new ReputationTable({ subjectsMax: 0 }), RangeError);
  assert.throws(() => new ReputationTable({ halfLifeMs: 0 }), RangeError);
});

Deno.test("withEvent(), decayed(), scoreOf() and budgetFactorOf() are pure functions of their inputs", () => {
  const policy = DEFAULT_REPUTATION_POLICY;
  const first = withEvent(null, "invalid_signature", 4, T0, HL);
  const second = withEvent(first, "accepted", 2, T0 + HL, HL);
  assert.deepEqual(first.counts.invalid_signature, 4, "the input record is unchanged");
  assert.deepEqual(second, {
    counts: { accepted: 2, duplicate: 0, invalid_signature: 2, invalid_schema: 0, rate_limited: 0 },
    atMs: T0 + HL,
  });
  assert.equal(decayed(second, T0, HL), second);
  assert.equal(scoreOf(second.counts, policy), 2 * policy.weights.accepted - 2);
  assert.equal(
    budgetFactorOf(policy.throttleScoreBelow - 0.001, policy),
    policy.throttledBudgetFactor,
  );
  assert.equal(budgetFactorOf(0, policy), 1);
});
