import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
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
      assert.equal(view.counters.n, 300n);
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
      assert.equal(view.counters.n, 300n);
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
    assert.deepEqual(lines.map((l) => JSON.parse(l.body).seq), [1, 2, 3]);
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
  // An Upstash URL where nothing answers for 10 s: exit 1 with a sentence, not a region that
  // listens and fails every job.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const nobody = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  listener.close();
  const away = await runDeno("main.ts", [], {
    MESH_STORE: "upstash",
    UPSTASH_REDIS_REST_URL: nobody,
    UPSTASH_REDIS_REST_TOKEN: "t",
    PORT: "0",
  });
  assert.equal(away.code, 1);
  // The store's own error record (a log line) comes first; the sentence is the last line.
  assert.match(
    away.stderr.trim().split("\n").at(-1)!,
    /^Cannot start region "[^"]+" as its upstash store did not answer for 10 s/,
  );
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

Deno.test("main.ts refuses a bad topology or a key that does not match it, naming what is wrong", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-topo-" });
  try {
    const key = AgentKey.generate();
    const secret = JSON.parse(key.toFileText()).secretKey;
    const good = {
      v: 1,
      zones: [{
        id: "eu",
        regions: [{ id: "eu-1", url: "http://127.0.0.1:1", publicKey: key.id }],
      }],
    };
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      JSON.stringify({
        ...good,
        zones: [{ id: "eu", regions: [{ id: "eu-1", url: "http://x", publicKey: "short" }] }],
      }),
    );
    await Deno.writeTextFile(`${dir}/good.json`, JSON.stringify(good));
    const run = (env: Record<string, string>) =>
      runDeno("main.ts", [], { PORT: "0", MESH_DATA: `${dir}/data`, MESH_REGION: "eu-1", ...env });
    const bad = await run({ MESH_TOPOLOGY: `${dir}/bad.json`, MESH_REGION_KEY: secret });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /zones\.0\.regions\.0\.publicKey is invalid/);
    const missing = await run({ MESH_TOPOLOGY: `${dir}/nope.json` });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /MESH_TOPOLOGY .*nope\.json cannot be read/);
    const notListed = await run({ MESH_TOPOLOGY: `${dir}/good.json`, MESH_REGION: "us-1" });
    assert.equal(notListed.code, 2);
    assert.match(notListed.stderr, /MESH_REGION "us-1" is not in topology/);
    const wrongKey = await run({ MESH_TOPOLOGY: `${dir}/good.json` }); // creates a fresh key file
    assert.equal(wrongKey.code, 2);
    assert.match(wrongKey.stderr, /has public key .* but topology .* lists .*: set MESH_DATA/);
    assert.equal(
      await Deno.stat(`${dir}/data/eu-1.key.json`).then(() => true, () => false),
      false,
      "the key made for nothing is removed",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "deno task mesh starts three regions in two zones that replicate to each other",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { freePortRange } = await import("../support/region_process.ts");
    const dir = await Deno.makeTempDir({ prefix: "mesh-task-" });
    const base = freePortRange(3);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/mesh.ts"],
      cwd: new URL("../../", import.meta.url),
      env: { MESH_DATA: dir, MESH_BASE_PORT: String(base), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.stdout.pipeThrough(new TextDecoderStream());
    let text = "";
    const reading = output.pipeTo(new WritableStream({ write: (c) => void (text += c) }));
    try {
      const urls = [0, 1, 2].map((i) => `http://127.0.0.1:${base + i}`);
      const deadline = Date.now() + 20_000;
      const healthy = async () =>
        (await Promise.all(urls.map((u) => fetch(`${u}/v1/health`).then((r) => r.ok, () => false))))
          .every(Boolean);
      while (!await healthy()) {
        assert.ok(Date.now() < deadline, `mesh did not start:\n${text}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(text, /eu-1 +zone eu/);
      assert.match(text, /us-1 +zone us/);
      assert.match(text, /push to eu-1, read from us-1/);
      const agent = new Agent(AgentKey.generate());
      await new MeshClient(urls[0]).push([
        agent.sign("demo", [{ op: "set", key: "greeting", value: "hello" }]),
      ]);
      while ((await new MeshClient(urls[2]).view("demo")).deltas !== 1) {
        assert.ok(Date.now() < deadline + 10_000, "the delta did not reach us-1");
        await new Promise((r) => setTimeout(r, 100));
      }
      const status = await (await fetch(`${urls[2]}/v1/status`)).json();
      assert.equal(status.zone, "us");
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await reading.catch(() => undefined);
      await child.stderr.cancel();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
