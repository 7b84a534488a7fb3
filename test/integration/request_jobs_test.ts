/**
 * Jobs driven by requests in real region processes (issue 13): `main.ts` with MESH_JOBS_TOKEN
 * starts no timers; `POST /v1/jobs/tick` runs a round, a push runs the due lease and fan-out
 * jobs, and a delta stored while a link was cut reaches the peer on the next round after the heal.
 */
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { TestMesh } from "../support/mesh_processes.ts";

const TOKEN = "integration-jobs-token";
const ZONE = [{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }];

async function tick(mesh: TestMesh, id: string, token = TOKEN) {
  const answer = await fetch(`${mesh.region(id).url}/v1/jobs/tick`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: answer.status, body: await answer.json() };
}

Deno.test({
  name:
    "main.ts with MESH_JOBS_TOKEN runs its jobs on POST /v1/jobs/tick and pushes, with no timers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({
      regions: ZONE,
      heartbeatMs: 60_000,
      leaseTtlMs: 150_000,
      antiEntropyMs: 60_000,
      env: () => ({ MESH_JOBS_TOKEN: TOKEN }),
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      for (const s of await mesh.statuses()) assert.equal(s.leader, null, "no timer took a lease");
      assert.equal((await tick(mesh, "eu-1", "wrong-token-wrong-token")).status, 401);
      for (const r of ZONE) {
        const round = await tick(mesh, r.id);
        assert.equal(round.status, 200);
        assert.ok(round.body.ran.includes("leader-lease") && round.body.ran.includes("heartbeat"));
      }
      // Right after, only the 50 ms fan-out job is due again: a duplicate trigger is cheap.
      const again = (await tick(mesh, "eu-1")).body;
      for (const job of ["leader-lease", "heartbeat", "anti-entropy"]) {
        assert.ok(again.notDue.includes(job), `${job} not due: ${JSON.stringify(again)}`);
      }
      const agent = new Agent(AgentKey.generate());
      const push = (id: string, k: number) =>
        new MeshClient(mesh.region(id).url).push([
          agent.sign("room", [{ op: "inc", counter: "n", by: k }]),
        ]);
      const held = (id: string) => new MeshClient(mesh.region(id).url).view("room");
      assert.equal((await push("eu-1", 1))[0].status, "accepted");
      await mesh.until(
        "the push fanned out without a round",
        async () => (await held("eu-2")).deltas === 1,
        5_000,
      );

      mesh.partition([["eu-1"], ["eu-2"]]);
      assert.equal((await push("eu-1", 2))[0].status, "accepted");
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal((await held("eu-2")).deltas, 1, "cut off: not delivered");
      mesh.heal();
      await tick(mesh, "eu-1"); // the fan-out job is due again (50 ms): it drains the backlog
      await mesh.until(
        "delivered after the heal",
        async () => (await held("eu-2")).deltas === 2,
        5_000,
      );
    } finally {
      await mesh.stop();
    }
  },
});
