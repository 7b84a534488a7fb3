import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { startRegionProcess } from "../support/region_process.ts";

const LIMITS = {
  MESH_ADDRESS_PUSH_RATE_PER_S: "0.01",
  MESH_ADDRESS_PUSH_BURST: "3",
  MESH_AUTHOR_DELTA_RATE_PER_S: "0.01",
  MESH_AUTHOR_DELTA_BURST: "2",
};

async function push(url: string, deltas: Envelope[], forwardedFor?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (forwardedFor !== undefined) headers["x-forwarded-for"] = forwardedFor;
  const response = await fetch(`${url}/v1/deltas`, {
    method: "POST",
    headers,
    body: JSON.stringify({ deltas }),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

Deno.test("main.ts limits pushes per connection address and per author as MESH_* configures", async () => {
  const data = await Deno.makeTempDir({ prefix: "mesh-rl-" });
  const region = await startRegionProcess({ MESH_DATA: data, MESH_REGION: "rl-1", ...LIMITS });
  try {
    const agent = new Agent(AgentKey.generate());
    const three = [1, 2, 3].map((i) => agent.sign("room", [{ op: "inc", counter: "n", by: i }]));
    const first = await push(region.url, three);
    assert.equal(first.status, 200);
    assert.deepEqual(
      first.body.results.map((r: { status: string; reason?: string }) => r.reason ?? r.status),
      ["accepted", "accepted", "rate_limited"],
    );
    // Without MESH_TRUST_PROXY a forwarded header changes nothing: the connection's address counts.
    assert.equal((await push(region.url, [], "198.51.100.1")).status, 200);
    assert.equal((await push(region.url, [], "198.51.100.2")).status, 200);
    const refused = await push(region.url, [], "198.51.100.3");
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("retry-after"), "100");
    assert.equal(refused.body.type, "urn:mesh:problem:rate-limited");
  } finally {
    assert.equal(await region.stop(), 0);
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("main.ts with MESH_TRUST_PROXY=true limits each X-Forwarded-For client on its own", async () => {
  const data = await Deno.makeTempDir({ prefix: "mesh-rl-" });
  const region = await startRegionProcess({
    MESH_DATA: data,
    MESH_REGION: "rl-2",
    MESH_TRUST_PROXY: "true",
    ...LIMITS,
  });
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await push(region.url, [], "198.51.100.1, 10.0.0.1")).status, 200);
    }
    assert.equal((await push(region.url, [], "198.51.100.1")).status, 429);
    assert.equal((await push(region.url, [], "198.51.100.2")).status, 200);
  } finally {
    assert.equal(await region.stop(), 0);
    await Deno.remove(data, { recursive: true });
  }
});
