/**
 * Cold start on each runtime (issue 13): how long a fresh instance of the region takes to answer,
 * for the bundles `deno task build` makes — dist/deno.js under `deno serve` on Deno KV, and
 * dist/workerd.js on workerd (Miniflare) and dist/vercel.js on Vercel's edge-runtime, both on the
 * Upstash store over a local redis-server — each started `BENCH_ROUNDS` times from nothing:
 *
 * - `ready_ms`: from asking for the instance (spawning `deno serve`; `new Miniflare()`, which
 *   starts a workerd process; `new EdgeRuntime()` + its server) until it answers `GET /v1/health`
 *   with 200 — what a platform's cold start adds before the first request;
 * - `first_health_ms`: of which the health request that answered (the instance's first request,
 *   where a runtime that loads the module lazily pays for it);
 * - `first_view_ms`: then the first view read of a channel already holding `BENCH_DELTAS` deltas
 *   (default 1,000), which a fresh instance folds from the store (or its checkpoint);
 * - `warm_view_ms`: the same read again, served from the instance's cache.
 *
 *   deno run -A bench/cold_start.ts
 *
 * Prints JSON: per runtime, the median and max over the rounds. Loopback only: a real platform
 * adds its own scheduling, and its network to the store.
 */
import { bundle, type Target } from "../scripts/build.ts";
import {
  edgeRuntimeAvailable,
  type EdgeServer,
  serveEdgeRuntime,
  serveWorkerd,
  spawnDenoServe,
  workerdAvailable,
} from "../test/support/edge_runtimes.ts";
import { startUpstashEnv } from "../test/support/upstash_rest_server.ts";
import { benchAuthors, signNext, typicalOps } from "./_signed_batches.ts";

const ROUNDS = Number(Deno.env.get("BENCH_ROUNDS") ?? 5);
const DELTAS = Number(Deno.env.get("BENCH_DELTAS") ?? 1_000);
const CHANNEL = "cold-start";

/** One fresh instance: its URL once it answers health, and how to stop it. */
type Start = () => Promise<EdgeServer>;

/** Polls health until 200; the time the answering request itself took, in ms. */
async function untilHealthy(url: string, deadlineMs = 30_000): Promise<number> {
  const deadline = performance.now() + deadlineMs;
  for (;;) {
    const asked = performance.now();
    const ok = await fetch(new URL("/v1/health", url)).then(
      (r) => (r.body?.cancel(), r.ok),
      () => false,
    );
    if (ok) return performance.now() - asked;
    if (performance.now() > deadline) throw new Error(`${url} did not become healthy`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function denoServe(file: string, env: Record<string, string>): Start {
  return () => Promise.resolve(spawnDenoServe(file, env));
}

/** Fills the channel through one instance (not timed). */
async function fill(start: Start): Promise<void> {
  const server = await start();
  try {
    await untilHealthy(server.url);
    const [author] = await benchAuthors(1);
    for (let i = 0; i < DELTAS; i += 100) {
      const deltas = [];
      for (let k = i; k < Math.min(DELTAS, i + 100); k++) {
        deltas.push(await signNext(author, CHANNEL, typicalOps(k)));
      }
      const response = await fetch(new URL("/v1/deltas", server.url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ deltas }),
      });
      const { results } = await response.json();
      if (results.some((r: { status: string }) => r.status !== "accepted")) {
        throw new Error(
          `fill: ${
            JSON.stringify(results.find((r: { status: string }) => r.status !== "accepted"))
          }`,
        );
      }
    }
  } finally {
    await server.stop();
  }
}

async function viewMs(url: string): Promise<number> {
  const started = performance.now();
  const view = await (await fetch(new URL(`/v1/channels/${CHANNEL}`, url))).json();
  if (view.deltas !== DELTAS) throw new Error(`view holds ${view.deltas}, not ${DELTAS}`);
  return performance.now() - started;
}

async function rounds(start: Start) {
  const ready: number[] = [], health: number[] = [], first: number[] = [], warm: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now();
    const server = await start();
    try {
      health.push(await untilHealthy(server.url));
      ready.push(performance.now() - started);
      first.push(await viewMs(server.url));
      warm.push(await viewMs(server.url));
    } finally {
      await server.stop();
    }
  }
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { median: +s[Math.floor(s.length / 2)].toFixed(1), max: +s.at(-1)!.toFixed(1) };
  };
  return {
    ready_ms: stats(ready),
    first_health_ms: stats(health),
    first_view_ms: stats(first),
    warm_view_ms: stats(warm),
  };
}

const dir = await Deno.makeTempDir({ prefix: "mesh-cold-start-" });
const results: Record<string, unknown> = {};
const load = () => Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
const loadBefore = load();
try {
  const file = (target: Target) => `${dir}/${target}.js`;
  for (const target of ["deno", "workerd", "vercel"] as const) await bundle(target, file(target));
  const deno = denoServe(file("deno"), {
    MESH_REGION: "cold-1",
    MESH_DATA: `${dir}/data`,
    MESH_LOG_LEVEL: "warn",
  });
  await fill(deno);
  results["deno serve (Deno KV)"] = await rounds(deno);
  const upstash = await startUpstashEnv();
  try {
    const env = {
      MESH_REGION: "cold-2",
      MESH_LOG_LEVEL: "warn",
      UPSTASH_REDIS_REST_URL: upstash.rest.url,
      UPSTASH_REDIS_REST_TOKEN: upstash.rest.token,
    };
    const starts: [string, boolean, Start][] = [
      [
        "workerd via Miniflare (Upstash)",
        workerdAvailable,
        () => serveWorkerd(file("workerd"), env),
      ],
      ["edge-runtime (Upstash)", edgeRuntimeAvailable, () => serveEdgeRuntime(file("vercel"), env)],
    ];
    let filled = false;
    for (const [name, available, start] of starts) {
      if (!available) {
        results[name] = "skipped: runtime not available here";
        continue;
      }
      if (!filled) await fill(start);
      filled = true;
      results[name] = await rounds(start);
    }
  } finally {
    await upstash.stop();
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
console.log(JSON.stringify(
  {
    bench: "cold_start",
    rounds: ROUNDS,
    deltas: DELTAS,
    load: [loadBefore, load()],
    runtimes: results,
  },
  null,
  1,
));
