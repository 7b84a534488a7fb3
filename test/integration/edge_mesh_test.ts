/**
 * A mesh across runtimes: a region on workerd (Miniflare, Upstash over redis-server) and a region
 * in a `deno task start` process (Deno KV), one zone. A delta pushed to either reaches the other,
 * in signed region messages both verify with the topology and keys the worker read from its
 * variables (no files on Workers): the Deno region fans out to the worker at any time, and the
 * worker's leader jobs (lease, heartbeats, fan-out, anti-entropy) run in its Cron Trigger's window
 * (the Deno region's anti-entropy may pull the worker's delta first; either way it arrives).
 */
import assert from "node:assert/strict";
import { bundle } from "../../scripts/build.ts";
import { Agent, AgentKey, MeshClient } from "../../src/client/mod.ts";
import { serveWorkerd, workerdAvailable } from "../support/edge_runtimes.ts";
import { redisAvailable } from "../support/redis_server.ts";
import { freePort, startRegionProcess } from "../support/region_process.ts";
import { startUpstashEnv } from "../support/upstash_rest_server.ts";

/** The worker's job window: enough for a lease, a few heartbeats and fan-out ticks, in ms. */
const WINDOW_MS = 4_000;

const secretOf = (key: AgentKey) => JSON.parse(key.toFileText()).secretKey as string;

async function until<T>(what: string, get: () => Promise<T | null>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test({
  name: "a region on workerd and a region on Deno mesh: each one's pushes reach the other, " +
    "and the worker's Cron Trigger leads it for its window",
  ignore: !redisAvailable || !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mesh-edge-" });
    const upstash = await startUpstashEnv();
    const [cfKey, denoKey] = [AgentKey.generate(), AgentKey.generate()];
    const [cfPort, denoPort] = [freePort(), freePort()];
    const topology = JSON.stringify({
      v: 1,
      zones: [{
        id: "eu",
        regions: [
          { id: "cf-1", url: `http://127.0.0.1:${cfPort}`, publicKey: cfKey.id },
          { id: "deno-1", url: `http://127.0.0.1:${denoPort}`, publicKey: denoKey.id },
        ],
      }],
    });
    await Deno.writeTextFile(`${dir}/mesh.json`, topology);
    const stops: (() => Promise<unknown>)[] = [() => upstash.stop()];
    try {
      const denoRegion = await startRegionProcess({
        MESH_REGION: "deno-1",
        MESH_DATA: `${dir}/data`,
        MESH_TOPOLOGY: `${dir}/mesh.json`,
        MESH_REGION_KEY: secretOf(denoKey),
        PORT: String(denoPort),
      });
      stops.unshift(() => denoRegion.stop());
      await bundle("workerd", `${dir}/workerd.js`);
      const worker = await serveWorkerd(`${dir}/workerd.js`, {
        MESH_REGION: "cf-1",
        UPSTASH_REDIS_REST_URL: upstash.rest.url,
        UPSTASH_REDIS_REST_TOKEN: upstash.rest.token,
        MESH_TOPOLOGY_JSON: topology,
        MESH_REGION_KEY: secretOf(cfKey),
        MESH_JOB_WINDOW_MS: String(WINDOW_MS),
      }, cfPort);
      stops.unshift(() => worker.stop());
      const [cf, deno] = [new MeshClient(worker.url), new MeshClient(denoRegion.url)];
      const agent = new Agent(AgentKey.generate());
      const [fromCf, fromDeno] = [
        agent.sign("room", [{ op: "set", key: "from", value: "workerd" }]),
        agent.sign("room", [{ op: "inc", counter: "n", by: 1 }]),
      ];
      assert.equal((await cf.push([fromCf]))[0].status, "accepted");
      assert.equal((await deno.push([fromDeno]))[0].status, "accepted");
      // The Deno region relays to the worker as soon as it leads itself.
      await until("deno-1's delta on cf-1", async () => {
        const view = await cf.view("room");
        return view.counters.n === 1n ? view : null;
      });
      // No instance of the worker led before its Cron Trigger ran the jobs.
      const status = async () => (await (await fetch(new URL("/v1/status", worker.url))).json());
      assert.equal((await status()).leader, null);
      const triggered = worker.scheduled();
      const both = await until("cf-1's delta on deno-1", async () => {
        const view = await deno.view("room");
        return view.map.from === "workerd" ? view : null;
      });
      assert.equal(await triggered, "ok");
      assert.equal(both.fingerprint, (await cf.view("room")).fingerprint);
      assert.ok((await status()).leader.epoch >= 1, "the window's lease job took the lease");
    } finally {
      for (const stop of stops) await stop().catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
