/**
 * Heartbeats each target on its own schedule (src/mesh/heartbeats.ts): a peer whose requests
 * hang — blackholed, neither answering nor refusing — holds up only its own heartbeats, on a
 * long-lived process's timers and where requests drive the jobs (`POST /v1/jobs/tick`).
 */
import assert from "node:assert/strict";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { ClockedScheduler } from "../support/clocked_scheduler.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
  { id: "us-2", zone: "us" },
];
const STEP_MS = 10;

/** Runs the lease and heartbeat jobs of every region on the simulated clock for `ms`. */
async function runJobs(
  mesh: InProcessMesh,
  schedulers: ClockedScheduler[],
  ms: number,
  check: () => Promise<void> = async () => {},
) {
  for (let t = 0; t < ms; t += STEP_MS) {
    for (const s of schedulers) s.runDue();
    for (let turn = 0; turn < 3; turn++) await new Promise((r) => setTimeout(r, 0));
    if (t % 50 === 0) await check();
    mesh.advance(STEP_MS);
  }
}

Deno.test("MeshNode.heartbeatTick on timers: a blackholed peer does not get live peers suspected", async () => {
  const mesh = new InProcessMesh(LAYOUT, { clockedWaits: true });
  const schedulers = LAYOUT.map(({ id }) => {
    const node = mesh.region(id).node;
    const s = new ClockedScheduler(() => mesh.nowMs);
    s.every("leader-lease", node.lease.renewEveryMs, () => node.leaseTick());
    s.every("heartbeat", node.heartbeatMs, () => node.heartbeatTick());
    return s;
  });
  try {
    await runJobs(mesh, schedulers, 3_000);
    for (const { id } of LAYOUT) {
      const status = await mesh.region(id).node.status();
      assert.equal(status.reachable.length, 4, `${id} reaches every region before the cut`);
    }
    // us-2 is blackholed: every request to or from it hangs until its sender's timeout (2 s).
    for (const { id } of LAYOUT) {
      if (id !== "us-2") mesh.hung.add(`${id}>us-2`).add(`us-2>${id}`);
    }
    const suspicions: string[] = [];
    await runJobs(mesh, schedulers, 6_000, async () => {
      for (const id of ["eu-1", "eu-2", "us-1"]) {
        const status = await mesh.region(id).node.status();
        const missing = ["eu-1", "eu-2", "us-1"].filter((r) => !status.reachable.includes(r));
        if (status.partition !== "majority" || missing.length > 0) {
          suspicions.push(`${mesh.nowMs}: ${id} ${status.partition}, lost ${missing}`);
        }
      }
    });
    assert.deepEqual(suspicions, [], "no live region was suspected, none said minority");
    const us1 = await mesh.region("us-1").node.status();
    assert.ok(!us1.reachable.includes("us-2"), "the blackholed region was dropped");
    assert.ok(mesh.hanging <= 2 * 3, `at most one heartbeat in flight per peer (${mesh.hanging})`);
  } finally {
    mesh.releaseHung();
    await Promise.all(schedulers.map((s) => s.stop()));
  }
});

Deno.test("POST /v1/jobs/tick: a round waits for a hanging peer at most a heartbeat period, and the next round skips it", async () => {
  const ZONE = [{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }, { id: "eu-3", zone: "eu" }];
  const mesh = new InProcessMesh(ZONE, { requestJobs: true });
  const jobs = mesh.region("eu-1").jobs!;
  const node = mesh.region("eu-1").node;
  await mesh.cronTick();
  mesh.hung.add("eu-1>eu-3");
  const round = async () => {
    mesh.advance(node.heartbeatMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((r) => timer = setTimeout(() => r(null), 5_000));
    const report = await Promise.race([jobs.tick(["heartbeat"]), late]);
    clearTimeout(timer);
    return report;
  };
  try {
    for (const n of [1, 2]) {
      const report = await round();
      assert.ok(report !== null, `round ${n} still waiting for the hung peer after 5 s`);
      assert.deepEqual(report.ran, ["heartbeat"]);
      // One period (250 ms) at most, with room for a loaded machine; not the 2 s request timeout.
      assert.ok(report.ms < 1_500, `round ${n} took ${report.ms} ms`);
      const eu2 = (await node.status()).peers.find((p) => p.id === "eu-2")!;
      assert.equal(eu2.lastSeenAgoMs, 0, `round ${n} heard the live peer`);
      assert.equal(mesh.hanging, 1, "one heartbeat in flight to the hung peer, not one per round");
    }
  } finally {
    mesh.releaseHung();
    await mesh.settle();
  }
});
