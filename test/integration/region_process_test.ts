import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/client/agent_key.ts";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { redisAvailable } from "../support/redis_server.ts";
import { runDeno, startRegionProcess } from "../support/region_process.ts";
import { startUpstashEnv } from "../support/upstash_rest_server.ts";

Deno.test("main.ts serves pushes and views over real HTTP and keeps them across a restart", async () => {
  const data = await Deno.makeTempDir({ prefix: "mesh-it-" });
  try {
    let region = await startRegionProcess({ MESH_DATA: data, MESH_REGION: "it-1" });
    const agent = new Agent(AgentKey.generate());
    const envelopes = Array.from(
      { length: 300 },
      (_, i) =>
        agent.sign("room", [{ op: "inc", counter: "n", by: 1 }, {
          op: "set",
          key: `k${i % 7}`,
          value: i,
        }]),
    );
    try {
      const client = new MeshClient(region.url);
      assert.deepEqual(await client.health(), { status: "ok", region: "it-1", store: "denokv" });
      const results = await client.push(envelopes); // two requests: PUSH_DELTAS_MAX is 256
      assert.equal(results.filter((r) => r.status === "accepted").length, 300);
      const view = await client.view("room");
      assert.equal(view.counters.n, 300);
      assert.equal(view.heads[agent.key.id], 300);
      assert.match(region.output(), /listening on http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      assert.equal(await region.stop(), 0);
    }
    region = await startRegionProcess({ MESH_DATA: data, MESH_REGION: "it-1" });
    try {
      const client = new MeshClient(region.url);
      const view = await client.view("room");
      assert.equal(view.deltas, 300);
      assert.equal(view.counters.n, 300);
      const again = await client.push(envelopes.slice(0, 5));
      assert.deepEqual(again.map((r) => r.status), Array(5).fill("duplicate"));
      const tailed = [];
      for await (const envelope of client.tailAll("room")) {
        tailed.push({ body: envelope.body, sig: envelope.sig });
      }
      assert.deepEqual(tailed, envelopes);
    } finally {
      await region.stop();
    }
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("the agent CLI generates a key, pushes every op kind, reads and tails", async () => {
  const data = await Deno.makeTempDir({ prefix: "mesh-cli-" });
  const region = await startRegionProcess({ MESH_DATA: `${data}/region` });
  try {
    const env = { MESH_URL: region.url, MESH_AGENT_KEY: `${data}/agent.key.json` };
    const cli = (...args: string[]) => runDeno("src/client/cli.ts", args, env);
    assert.equal((await cli("keygen")).code, 0);
    assert.equal((await cli("keygen")).code, 1, "keygen refuses to overwrite a key file");
    const push = await cli(
      "push",
      "demo",
      "set",
      "greeting",
      '"hello"',
      "inc",
      "visits",
      "3",
      "add",
      "tags",
      "blue",
    );
    assert.equal(push.code, 0, push.stderr);
    assert.equal(JSON.parse(push.stdout).status, "accepted");
    assert.equal((await cli("push", "demo", "add", "tags", "red", "del", "greeting")).code, 0);
    assert.equal((await cli("push", "demo", "rmv", "tags", "blue")).code, 0);
    const rmvMissing = await cli("push", "demo", "rmv", "tags", "green");
    assert.equal(rmvMissing.code, 2);
    assert.match(rmvMissing.stderr, /green is not in set tags/);
    const view = JSON.parse((await cli("get", "demo")).stdout);
    assert.deepEqual(view.sets, { tags: ["red"] });
    assert.deepEqual(view.map, {});
    assert.equal(view.counters.visits, 3);
    const key = JSON.parse(await Deno.readTextFile(env.MESH_AGENT_KEY));
    assert.equal(view.heads[key.publicKey], 3);
    const lines = (await cli("tail", "demo")).stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.body.seq), [1, 2, 3]);
    assert.equal((await cli("frobnicate")).code, 2);
  } finally {
    await region.stop();
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("main.ts refuses a bad configuration with a message naming the variable", async () => {
  const bad = await runDeno("main.ts", [], { MESH_REGION: "Not_Valid", PORT: "0" });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Cannot start region as MESH_REGION is invalid/);
  const upstash = await runDeno("main.ts", [], { MESH_STORE: "upstash", PORT: "0" });
  assert.equal(upstash.code, 2);
  assert.match(upstash.stderr, /UPSTASH_REDIS_REST_URL/);
  const port = await runDeno("main.ts", [], { PORT: "99999" });
  assert.equal(port.code, 2);
  assert.match(port.stderr, /PORT is invalid/);
});

Deno.test({
  name: "two region instances on one Upstash store share deltas, heads and arrival order",
  ignore: !redisAvailable,
  async fn() {
    const upstash = await startUpstashEnv();
    const env = {
      MESH_STORE: "upstash",
      MESH_REGION: "shared",
      UPSTASH_REDIS_REST_URL: upstash.rest.url,
      UPSTASH_REDIS_REST_TOKEN: upstash.rest.token,
    };
    const one = await startRegionProcess(env);
    const two = await startRegionProcess(env);
    try {
      const a = new MeshClient(one.url), b = new MeshClient(two.url);
      assert.equal((await a.health()).store, "upstash");
      const agent = new Agent(AgentKey.generate());
      const deltas = Array.from(
        { length: 40 },
        (_, i) => agent.sign("room", [{ op: "add", set: "s", elem: `e${i}` }]),
      );
      // The same deltas to both instances at once: each is stored exactly once.
      const [ra, rb] = await Promise.all([a.push(deltas), b.push(deltas)]);
      for (let i = 0; i < deltas.length; i++) {
        assert.deepEqual([ra[i].status, rb[i].status].sort(), ["accepted", "duplicate"]);
      }
      const [va, vb] = await Promise.all([
        fetch(`${one.url}/v1/channels/room`).then((r) => r.text()),
        fetch(`${two.url}/v1/channels/room`).then((r) => r.text()),
      ]);
      assert.equal(va, vb);
      assert.equal(JSON.parse(va).deltas, 40);
      assert.deepEqual((await b.tail("room", "0", 1000)).deltas.length, 40);
    } finally {
      await one.stop();
      await two.stop();
      await upstash.stop();
    }
  },
});
