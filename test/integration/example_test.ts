/**
 * `deno task example` (examples/swarm.ts) runs to its end on two real region processes and
 * narrates every step: cards, discovery by skill, an encrypted task, progress on a topic, a
 * result blob fetched across regions, a proposal, ballots, one outcome in both regions, and the
 * regions' announcements.
 */
import assert from "node:assert/strict";
import { runDeno } from "../support/region_process.ts";

Deno.test("the example swarm runs and narrates each step", async () => {
  const run = await runDeno("examples/swarm.ts", []);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const steps = [
    /regions +eu-1 is up/,
    /regions +us-1 is up/,
    /announce +planner .* 3 reviewers/,
    /discover +eu-1 lists Translator .* card verified: true/,
    /send +planner → translator: task \S+ sealed with HPKE/,
    /inbox +translator on us-1 opens .*"kind":"translate"/,
    /topic +eu-1 delivers tasks\.\S+\.progress: \{"state":"done","blob":"[0-9a-f]{64}"\}/,
    /blob +planner fetches it from eu-1, hash checked: "The mesh decided\. → Le maillage a décidé\."/,
    /propose +planner proposes/,
    /vote +reviewer 3 votes reject/,
    /tally +eu-1: accept \(accept 2, reject 1; 2 of 3 needed\)/,
    /tally +us-1: accept \(accept 2, reject 1; 2 of 3 needed\)/,
    /done +the swarm accepted the translation/,
  ];
  let at = 0;
  for (const step of steps) {
    const index = run.stdout.slice(at).search(step);
    assert.ok(index >= 0, `missing, or out of order: ${step}\n${run.stdout}`);
    at += index;
  }
  // The two regions announce in either order.
  assert.match(run.stdout, /announce +mesh\.proposals: region eu-1 announces "accept"/);
  assert.match(run.stdout, /announce +mesh\.proposals: region us-1 announces "accept"/);
});
