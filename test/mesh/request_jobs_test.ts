/**
 * Jobs driven by requests (issue 13): a region whose jobs nothing runs but a platform's
 * scheduled trigger (`POST /v1/jobs/tick`) and its agents' pushes still leads, fans out,
 * detects a cut-off peer and heals, on the in-process mesh's simulated clock.
 */
import assert from "node:assert/strict";
import { InProcessMesh, JOBS_TOKEN } from "../support/in_process_mesh.ts";
import { runCronScenario } from "../support/cron_scenario.ts";
import { testAgent } from "../support/signing.ts";

const ZONE = [{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }];

function tick(mesh: InProcessMesh, id: string, token: string | null = JOBS_TOKEN) {
  return mesh.region(id).app.request("/v1/jobs/tick", {
    method: "POST",
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
}

Deno.test("POST /v1/jobs/tick runs one round of the due jobs for the bearer of MESH_JOBS_TOKEN only", async () => {
  const mesh = new InProcessMesh(ZONE, { requestJobs: true });
  const refused = await tick(mesh, "eu-1", null);
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get("content-type")!, /problem\+json/);
  assert.equal((await tick(mesh, "eu-1", "not-the-token")).status, 401);
  assert.equal(mesh.region("eu-1").node.lease.isLeader, false, "a refused round ran nothing");
  const first = await tick(mesh, "eu-1");
  assert.equal(first.status, 200);
  const report = await first.json();
  assert.deepEqual(report.ran, ["leader-lease", "heartbeat", "fan-out", "anti-entropy"]);
  assert.equal(mesh.region("eu-1").node.lease.isLeader, true);
  // Right after, nothing is due: a second trigger (a retry, a duplicate cron) is a no-op.
  const again = await (await tick(mesh, "eu-1")).json();
  assert.deepEqual(again.ran, []);
  assert.deepEqual(again.notDue, ["leader-lease", "heartbeat", "fan-out", "anti-entropy"]);
  const get = await mesh.region("eu-1").app.request("/v1/jobs/tick");
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");
});

Deno.test("POST /v1/jobs/tick does not exist on a region whose jobs timers run", async () => {
  const mesh = new InProcessMesh(ZONE);
  assert.equal((await tick(mesh, "eu-1")).status, 404);
});

Deno.test("a push runs the due lease and fan-out jobs: with no trigger since, the delta reaches the peer", async () => {
  const mesh = new InProcessMesh(ZONE, { requestJobs: true, leaseTtlMs: 3_000 });
  await mesh.cronTick();
  mesh.nowMs += 30_000; // the lease ran out long ago; no trigger comes
  const eu1 = mesh.region("eu-1");
  assert.equal(eu1.node.lease.isLeader, false);
  const d = testAgent(() => mesh.nowMs).sign("room", [{ op: "set", key: "k", value: 1 }]);
  assert.equal((await mesh.push("eu-1", [d]))[0].status, "accepted");
  await mesh.settle();
  assert.equal(eu1.node.lease.isLeader, true, "the push took the lease");
  assert.equal(JSON.parse(await mesh.view("eu-2", "room")).deltas, 1, "and fanned out");
});

Deno.test("a mesh on a one-minute trigger plus traffic detects a cut-off region within four minutes and heals within a trigger", async () => {
  const figures = await runCronScenario({
    tickMs: 60_000,
    heartbeatMs: 60_000,
    leaseTtlMs: 150_000,
    pushEveryMs: 20_000,
    cutAfterTickMs: 30_000,
    partitionMs: 240_000,
    writesPerSide: 40,
  });
  assert.equal(figures.falseAlarms, 0, "no region reads its healthy peers as down between rounds");
  assert.ok(figures.visibilityMs.every((ms) => ms <= 1_000), `visibility ${figures.visibilityMs}`);
  assert.ok(figures.minorityMs !== null && figures.minorityMs <= 240_000, `${figures.minorityMs}`);
  assert.ok(figures.othersDropMs !== null && figures.othersDropMs <= 240_000);
  assert.ok(figures.healMs !== null && figures.healMs <= 60_000, `heal ${figures.healMs}`);
});
