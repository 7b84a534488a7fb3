/**
 * The scale simulation (bench/sim/, docs/simulation.md) at its small sizes: 10 agents over 3
 * regions in 2 zones and 1,000 agents over 6 regions in 3 zones, seeded, with packet loss, failed
 * requests, a partition that cuts the last zone off for 20 s, equivocating agents and forgers.
 * Every run must end with every region holding the same set (same real set fingerprint), no
 * forged delta anywhere, every region quarantining exactly the equivocators, and byte-identical
 * views; the cut-off zone must notice it is a minority. The big sizes run from
 * `bench/simulate.ts`.
 *
 * Replay one seed with `MESH_SIM_SEED=<seed> deno test -A test/simulation/scale_simulation_test.ts`.
 */
import assert from "node:assert/strict";
import { scenarioFor } from "../../bench/sim/scenario.ts";
import { simulate, type SimulationResult } from "../../bench/sim/simulation.ts";
import { seedsToRun } from "../support/seeded_rng.ts";

const SEEDS_SMALL = [1, 2, 3, 42, 1337];
const SEEDS_THOUSAND = [1, 7_919];
/** Bound on the time from the heal until every delta written before it is everywhere, ms. */
const HEAL_CONVERGE_MS_MAX = 60_000;
/** Bound on how long the cut-off zone takes to report `minority`, ms. */
const MINORITY_DETECT_MS_MAX = 2_000;

function assertConverged(result: SimulationResult, seed: number): void {
  const replay =
    `replay: MESH_SIM_SEED=${seed} deno test -A test/simulation/scale_simulation_test.ts`;
  const { checks, detection, metrics } = result;
  assert.deepEqual(checks.problems, [], replay);
  assert.ok(checks.setsEqual && checks.quarantineEqual && checks.viewsEqual, replay);
  assert.equal(checks.forgedStored, 0, replay);
  assert.equal(checks.quarantined, result.options.equivocators, replay);
  assert.equal(metrics.stored, metrics.converged, replay);
  assert.equal(checks.deltasPerRegion, metrics.stored, replay);
  assert.ok(metrics.outcomes.rejected >= result.options.forgers, replay);
  assert.ok(
    result.healToConvergedMs <= HEAL_CONVERGE_MS_MAX,
    `${result.healToConvergedMs} ms; ${replay}`,
  );
  assert.ok(
    detection.minorityMs !== null && detection.minorityMs <= MINORITY_DETECT_MS_MAX,
    `minority reported after ${detection.minorityMs} ms; ${replay}`,
  );
  assert.ok(detection.dropMs !== null, `the others never dropped the cut-off zone; ${replay}`);
  assert.ok(result.steady.rounds.p50 >= 2 && result.steady.rounds.p50 <= 4, replay);
}

Deno.test("simulate() with 10 agents converges to equal sets, quarantine and views", async () => {
  for (const seed of seedsToRun(SEEDS_SMALL)) {
    assertConverged(await simulate(scenarioFor(10, { seed })), seed);
  }
});

Deno.test("simulate() with 1,000 agents converges to equal sets, quarantine and views", async () => {
  for (const seed of seedsToRun(SEEDS_THOUSAND)) {
    assertConverged(await simulate(scenarioFor(1_000, { seed })), seed);
  }
});

Deno.test("simulate() converges with the code before issue 14's fixes too", async () => {
  for (const seed of seedsToRun([5])) {
    const options = scenarioFor(1_000, {
      seed,
      heartbeatJob: "together",
      repairRelay: false,
      drain: "log-pages",
    });
    assertConverged(await simulate(options), seed);
  }
});

Deno.test("simulate() is a function of its seed", async () => {
  const [a, b] = [await simulate(scenarioFor(10)), await simulate(scenarioFor(10))];
  assert.equal(a.checks.fingerprint, b.checks.fingerprint);
  assert.deepEqual(a.traffic, b.traffic);
  assert.deepEqual(a.steady, b.steady);
  assert.deepEqual(a.detection, b.detection);
  assert.equal(a.wall.events, b.wall.events);
});
