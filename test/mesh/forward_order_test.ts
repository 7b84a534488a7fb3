/** The order in which a leader's eager forwards leave (src/mesh/mesh_node.ts `forward`). */
import assert from "node:assert/strict";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { testAgent } from "../support/signing.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "eu-3", zone: "eu" },
  { id: "us-1", zone: "us" },
  { id: "ap-1", zone: "ap" },
];

Deno.test("a leader's eager forwards go across zones first, then to its own zone", async () => {
  const sent: string[] = [];
  const mesh = new InProcessMesh(LAYOUT, {
    intercept: (from, to, path, init) => {
      if (from === "eu-1" && path === "/v1/peer/deltas") sent.push(to);
      return init;
    },
  });
  for (let i = 0; i < 8; i++) await mesh.tick();
  const agent = testAgent(() => mesh.nowMs);
  for (let n = 0; n < 3; n++) {
    sent.length = 0;
    const x = agent.sign(`room-${n}`, [{ op: "set", key: "k", value: n }]);
    assert.equal((await mesh.push("eu-1", [x]))[0].status, "accepted");
    await mesh.region("eu-1").node.forwardsSettled();
    assert.equal(sent.length, 4, `one forward to each target: ${sent}`);
    const zones = sent.map((id) => LAYOUT.find((r) => r.id === id)!.zone);
    assert.deepEqual(zones.slice(0, 2).sort(), ["ap", "us"], `across zones first: ${sent}`);
    assert.deepEqual(zones.slice(2), ["eu", "eu"], `then the zone: ${sent}`);
  }
});
