import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { EdgeRegion, type WaitUntil } from "../../src/adapters/edge.ts";
import { vercelEdgeRegion } from "../../src/adapters/vercel_edge.ts";
import { workerdRegion } from "../../src/adapters/workerd.ts";
import { BackgroundWork } from "../../src/compose/background.ts";
import { regionConfig } from "../../src/compose/config.ts";
import type { RegionHost } from "../../src/compose/host.ts";
import { openRegion } from "../../src/compose/open_region.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";

/** An Upstash URL nobody answers on: opening a region never calls the store. */
const NOWHERE = { UPSTASH_REDIS_REST_URL: "http://127.0.0.1:9", UPSTASH_REDIS_REST_TOKEN: "t" };
const EDGE: RegionHost = { runtime: "workerd" };
const noJobs = () => {};

/** A request context that keeps what it was asked to wait for. */
function context(): WaitUntil & { waited: Promise<unknown>[] } {
  const waited: Promise<unknown>[] = [];
  return { waited, waitUntil: (p) => void waited.push(p) };
}

async function quietly<T>(run: () => Promise<T>): Promise<T> {
  const error = console.error;
  console.error = () => {};
  try {
    return await run();
  } finally {
    console.error = error;
  }
}

Deno.test("EdgeRegion answers 500 problem+json while its region cannot start, and starts once the environment lets it", async () => {
  const edge = new EdgeRegion(EDGE, noJobs);
  const refused = await quietly(() =>
    edge.fetch(new Request("http://r/v1/health"), { MESH_REGION: "Not A Region" })
  );
  assert.equal(refused.status, 500);
  assert.equal(refused.headers.get("content-type"), "application/problem+json");
  const body = await refused.json();
  assert.equal(body.type, "urn:mesh:problem:internal-error");
  assert.doesNotMatch(body.detail, /MESH_REGION/, "the operator's message stays in the log");
  const ctx = context();
  const started = await edge.fetch(new Request("http://r/v1/nowhere"), NOWHERE, ctx);
  assert.equal(started.status, 404);
  assert.equal((await started.json()).type, "urn:mesh:problem:not-found");
  assert.equal(ctx.waited.length, 1, "the request's background work went to waitUntil");
  await Promise.all(ctx.waited);
  await (await edge.open(NOWHERE)).region.close();
});

Deno.test("openRegion() on a host without files or Deno KV names what to set instead", async () => {
  const open = (env: Record<string, string>) => openRegion(regionConfig(env), EDGE);
  await assert.rejects(
    open({}),
    /MESH_STORE is denokv, but workerd has no Deno KV: set MESH_STORE=upstash/,
  );
  const upstash = { MESH_STORE: "upstash", ...NOWHERE };
  await assert.rejects(
    open({ ...upstash, MESH_TOPOLOGY: "mesh.json" }),
    /MESH_TOPOLOGY names a file, but workerd has no files: set MESH_TOPOLOGY_JSON/,
  );
  await assert.rejects(
    open({ ...upstash, MESH_ADMISSION: "admission.json" }),
    /MESH_ADMISSION names a file, but workerd has no files: set MESH_ADMISSION_JSON/,
  );
  const key = AgentKey.generate();
  const topology = JSON.stringify({
    v: 1,
    zones: [{
      id: "eu",
      regions: [{ id: "eu-1", url: "https://eu-1.example", publicKey: key.id }],
    }],
  });
  await assert.rejects(
    open({ ...upstash, MESH_REGION: "eu-1", MESH_TOPOLOGY_JSON: topology }),
    /MESH_REGION_KEY is not set and workerd has no files for a key file/,
  );
  assert.throws(
    () => regionConfig({ MESH_TOPOLOGY: "mesh.json", MESH_TOPOLOGY_JSON: topology }),
    /both MESH_TOPOLOGY and MESH_TOPOLOGY_JSON are set/,
  );
});

Deno.test("MESH_TOPOLOGY_JSON, MESH_ADMISSION_JSON and MESH_REGION_KEY open a mesh region without a file", async () => {
  const key = AgentKey.generate();
  const secret = JSON.parse(key.toFileText()).secretKey;
  const topology = JSON.stringify({
    v: 1,
    zones: [{
      id: "eu",
      regions: [{ id: "eu-1", url: "https://eu-1.example", publicKey: key.id }],
    }],
  });
  const region = await openRegion(
    regionConfig({
      MESH_STORE: "upstash",
      ...NOWHERE,
      MESH_REGION: "eu-1",
      MESH_TOPOLOGY_JSON: topology,
      MESH_ADMISSION_JSON: JSON.stringify({ v: 1, default: "open" }),
      MESH_REGION_KEY: secret,
    }),
    EDGE,
  );
  try {
    assert.equal(region.mesh?.self.id, "eu-1");
    assert.equal(region.mesh?.self.publicKey, key.id);
  } finally {
    await region.close();
  }
});

Deno.test("vercelEdgeRegion(): GET /api/cron answers only Vercel Cron's bearer CRON_SECRET", async () => {
  const secret = "a-cron-secret-of-16+";
  const handler = (env: Record<string, string>) => vercelEdgeRegion(noJobs, () => env);
  const cron = (auth?: string, method = "GET") =>
    new Request("http://r/api/cron", {
      method,
      headers: auth === undefined ? {} : { authorization: auth },
    });
  const unset = await handler(NOWHERE)(cron(`Bearer ${secret}`));
  assert.equal(unset.status, 401, "no CRON_SECRET, no jobs route");
  const withSecret = handler({ ...NOWHERE, CRON_SECRET: secret, MESH_JOB_WINDOW_MS: "100" });
  assert.equal((await withSecret(cron("Bearer another-secret-xx"))).status, 401);
  assert.equal((await withSecret(cron())).status, 401);
  const post = await withSecret(cron(`Bearer ${secret}`, "POST"));
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET");
  const ran = await withSecret(cron(`Bearer ${secret}`));
  assert.equal(ran.status, 200);
  const lines = (await ran.text()).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines, [{ windowMs: 100 }, { jobs: {} }]);
});

Deno.test("BackgroundWork.settled() waits for tracked work, and for work tracked meanwhile", async () => {
  const work = new BackgroundWork();
  const done: string[] = [];
  const later = (name: string, ms: number) =>
    new Promise<void>((resolve) => setTimeout(() => resolve(void done.push(name)), ms));
  work.track(later("a", 5).then(() => work.track(later("b", 5))));
  work.track(Promise.reject(new Error("a failed write is settled too")));
  await work.settled();
  assert.deepEqual(done, ["a", "b"]);
});

for (
  const [runtime, header, serve] of [
    ["workerd", "cf-connecting-ip", (env: Record<string, string>) => {
      const worker = workerdRegion(noJobs);
      return (request: Request) => worker.fetch(request, env, context());
    }],
    ["vercel-edge", "x-real-ip", (env: Record<string, string>) => {
      const fn = vercelEdgeRegion(noJobs, () => env);
      return (request: Request) => fn(request, context());
    }],
  ] as const
) {
  upstashTest(
    `the ${runtime} adapter charges pushes to the address its edge sets (${header})`,
    async ({ rest }) => {
      const fetch = serve({
        MESH_REGION: runtime,
        UPSTASH_REDIS_REST_URL: rest.url,
        UPSTASH_REDIS_REST_TOKEN: rest.token,
        MESH_ADDRESS_PUSH_BURST: "1",
        MESH_ADDRESS_PUSH_RATE_PER_S: "0.001",
      });
      const push = (address: string) =>
        fetch(
          new Request("http://r/v1/deltas", {
            method: "POST",
            headers: { "content-type": "application/json", [header]: address },
            body: JSON.stringify({ deltas: [] }),
          }),
        );
      assert.equal((await push("192.0.2.1")).status, 200);
      const limited = await push("192.0.2.1");
      assert.equal(limited.status, 429);
      await limited.body?.cancel();
      assert.equal((await push("192.0.2.2")).status, 200, "another address has its own bucket");
    },
  );
}

Deno.test("EdgeRegion with MESH_JOBS_TOKEN: a trigger is one round of the due jobs, and so is POST /v1/jobs/tick", async () => {
  const token = "a-jobs-token-of-16+";
  let runs = 0;
  const edge = new EdgeRegion(EDGE, (scheduler) => {
    scheduler.every("count", 60_000, () => Promise.resolve(void runs++));
  });
  const env = { ...NOWHERE, MESH_JOBS_TOKEN: token, MESH_JOB_WINDOW_MS: "60000" };
  const started = Date.now();
  assert.equal((await edge.runJobs(env)).count.runs, 1);
  assert.ok(Date.now() - started < 5_000, "a round, not a 60 s window");
  assert.equal((await edge.runJobs(env)).count.runs, 1, "not due again within its interval");
  const tick = (auth: string) =>
    edge.fetch(
      new Request("http://r/v1/jobs/tick", { method: "POST", headers: { authorization: auth } }),
      env,
      context(),
    );
  assert.equal((await tick("Bearer not-the-token-at-all")).status, 401);
  const round = await tick(`Bearer ${token}`);
  assert.equal(round.status, 200);
  assert.deepEqual((await round.json()).notDue, ["count"]);
  assert.equal(runs, 1);
  await (await edge.open(env)).region.close();
});
