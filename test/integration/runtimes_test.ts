/**
 * The same region on three runtimes (issue 13): each bundle `deno task build` makes is served by
 * its runtime on a real port and passes the one HTTP contract (test/support/http_contract.ts) —
 * dist/deno.js under `deno serve` on Deno KV, dist/workerd.js on workerd through Miniflare and
 * dist/vercel.js on Vercel's edge-runtime, both on the Upstash store over a real redis-server —
 * and each edge host's cron path runs the jobs.
 */
import assert from "node:assert/strict";
import { bundle, type Target, vercelOutput } from "../../scripts/build.ts";
import { CRON_PATH } from "../../src/adapters/vercel_edge.ts";
import {
  edgeRuntimeAvailable,
  serveEdgeRuntime,
  serveWorkerd,
  spawnDenoServe,
  workerdAvailable,
} from "../support/edge_runtimes.ts";
import { runHttpContract } from "../support/http_contract.ts";
import { redisAvailable } from "../support/redis_server.ts";
import { startUpstashEnv } from "../support/upstash_rest_server.ts";

/** How long `deno serve` may take to answer its first health check, in ms. */
const SERVE_START_MS_MAX = 20_000;
/** The jobs' window on the edge hosts in these tests, in ms (deployments use 50 s). */
const WINDOW_MS = 400;
const CRON_SECRET = "cron-secret-of-the-runtimes-test";

/** Bundles `target` into a fresh directory; `use` gets the bundle's path; the directory goes. */
async function withBundle(target: Target, use: (file: string, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: `mesh-${target}-` });
  try {
    await bundle(target, `${dir}/${target}.js`);
    await use(`${dir}/${target}.js`, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `deno serve`s `file` on a free port until `use` is done. */
async function denoServe(
  file: string,
  env: Record<string, string>,
  use: (url: string) => Promise<void>,
) {
  const server = spawnDenoServe(file, env);
  try {
    const deadline = Date.now() + SERVE_START_MS_MAX;
    for (;;) {
      const ok = await fetch(`${server.url}v1/health`).then(
        (r) => (r.body?.cancel(), r.ok),
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`deno serve ${file} did not answer`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await use(server.url);
  } finally {
    await server.stop();
  }
}

Deno.test({
  name: "dist/deno.js under `deno serve` passes the HTTP contract on Deno KV",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await withBundle("deno", async (file, dir) => {
      const env = { MESH_REGION: "deno-1", MESH_DATA: `${dir}/data` };
      await denoServe(file, env, async (url) => {
        await runHttpContract(t, { url, region: "deno-1", store: "denokv" });
      });
    });
  },
});

Deno.test({
  name: "dist/workerd.js on workerd (Miniflare) passes the HTTP contract on Upstash over " +
    "redis-server, and its Cron Trigger runs the jobs for the window",
  ignore: !redisAvailable || !workerdAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const upstash = await startUpstashEnv();
    try {
      await withBundle("workerd", async (file) => {
        const worker = await serveWorkerd(file, {
          MESH_REGION: "cf-1",
          UPSTASH_REDIS_REST_URL: upstash.rest.url,
          UPSTASH_REDIS_REST_TOKEN: upstash.rest.token,
          MESH_JOB_WINDOW_MS: String(WINDOW_MS),
        });
        try {
          await runHttpContract(t, { url: worker.url, region: "cf-1", store: "upstash" });
          await t.step("scheduled(): a Cron Trigger runs the jobs for the window", async () => {
            const started = performance.now();
            assert.equal(await worker.scheduled(), "ok");
            assert.ok(performance.now() - started >= WINDOW_MS);
          });
        } finally {
          await worker.stop();
        }
      });
    } finally {
      await upstash.stop();
    }
  },
});

Deno.test({
  name: "dist/vercel.js on Vercel's edge-runtime passes the HTTP contract on Upstash over " +
    "redis-server, and GET /api/cron runs the jobs for Vercel Cron only",
  ignore: !redisAvailable || !edgeRuntimeAvailable,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const upstash = await startUpstashEnv();
    try {
      await withBundle("vercel", async (file, dir) => {
        const server = await serveEdgeRuntime(file, {
          MESH_REGION: "vc-1",
          UPSTASH_REDIS_REST_URL: upstash.rest.url,
          UPSTASH_REDIS_REST_TOKEN: upstash.rest.token,
          MESH_JOB_WINDOW_MS: String(WINDOW_MS),
          CRON_SECRET,
        });
        try {
          await runHttpContract(t, { url: server.url, region: "vc-1", store: "upstash" });
          await t.step("GET /api/cron runs the jobs for CRON_SECRET, streaming", async () => {
            await cronRoute(server.url);
          });
        } finally {
          await server.stop();
        }
        await t.step("the Build Output directory holds the bundle, routes and cron", async () => {
          await buildOutput(file, dir);
        });
      });
    } finally {
      await upstash.stop();
    }
  },
});

async function cronRoute(base: string) {
  const url = new URL(CRON_PATH, base);
  const refused = await fetch(url, { headers: { authorization: "Bearer wrong-secret-0123456" } });
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get("content-type"), "application/problem+json");
  await refused.body?.cancel();
  const answer = await fetch(url, { headers: { authorization: `Bearer ${CRON_SECRET}` } });
  assert.equal(answer.status, 200);
  const lines = (await answer.text()).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], { windowMs: WINDOW_MS });
  const jobs = lines[1].jobs as Record<string, { runs: number; failures: number }>;
  assert.deepEqual(Object.keys(jobs).sort(), ["blob-gc", "registry", "view-checkpoints"]);
  for (const [name, stats] of Object.entries(jobs)) {
    assert.ok(stats.runs >= 1 && stats.failures === 0, `${name}: ${JSON.stringify(stats)}`);
  }
}

async function buildOutput(file: string, dir: string) {
  await vercelOutput(file, dir);
  const output = `${dir}/.vercel/output`;
  const config = JSON.parse(await Deno.readTextFile(`${output}/config.json`));
  assert.equal(config.version, 3);
  assert.deepEqual(config.crons.map((c: { path: string }) => c.path), [CRON_PATH]);
  assert.equal(config.routes.at(-1).dest, "/region");
  const func = `${output}/functions/region.func`;
  const vc = JSON.parse(await Deno.readTextFile(`${func}/.vc-config.json`));
  assert.equal(vc.runtime, "edge");
  for (const name of ["MESH_REGION", "UPSTASH_REDIS_REST_TOKEN", "CRON_SECRET"]) {
    assert.ok(vc.envVarsInUse.includes(name), `${name} reaches the function`);
  }
  assert.equal(await Deno.readTextFile(`${func}/${vc.entrypoint}`), await Deno.readTextFile(file));
}
