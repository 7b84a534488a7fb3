/**
 * The two edge runtimes a region is proven on, both from npm (pinned in deno.json): Cloudflare's
 * workerd through Miniflare, and Vercel's edge-runtime. Each serves a bundle `deno task build`
 * made, on a real loopback port.
 *
 * Whether each can run here is decided once, at module load, by starting a trivial worker on it
 * (workerd is a native binary, an optional dependency of the npm package `workerd`: a platform
 * without a build, or an install that could not fetch it, has none). Tests register as ignored
 * (counted as skipped, with a warning) when a runtime is missing; `MESH_REQUIRE_WORKERD=1` and
 * `MESH_REQUIRE_EDGE_RUNTIME=1` (set by .ci/run) make a missing runtime an error instead.
 */

import { freePort } from "./region_process.ts";

const ROOT = new URL("../../", import.meta.url);

/** How long the probe of a runtime may take, in ms (Miniflare starts a workerd process). */
const PROBE_MS_MAX = 30_000;

async function probe(what: string, run: () => Promise<void>): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${PROBE_MS_MAX} ms`)), PROBE_MS_MAX);
  });
  try {
    await Promise.race([run(), timeout]);
    return null;
  } catch (error) {
    return `${what}: ${(error as Error).message?.split("\n")[0] ?? error}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Why workerd cannot run here, or null when it can. */
const workerdMissing = await probe("workerd (npm:miniflare) cannot start a worker", async () => {
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch: () => new Response('ok') }",
  });
  try {
    const answer = await mf.dispatchFetch("http://probe/");
    if ((await answer.text()) !== "ok") throw new Error("the probe worker answered wrongly");
  } finally {
    await mf.dispose();
  }
});

/** Why edge-runtime cannot run here, or null when it can. */
const edgeRuntimeMissing = await probe("npm:edge-runtime cannot evaluate code", async () => {
  const { EdgeRuntime } = await import("edge-runtime");
  if (new EdgeRuntime().evaluate<number>("1 + 1") !== 2) throw new Error("1 + 1 is not 2 there");
});

export const workerdAvailable = workerdMissing === null;
export const edgeRuntimeAvailable = edgeRuntimeMissing === null;

for (
  const [missing, variable] of [
    [workerdMissing, "MESH_REQUIRE_WORKERD"],
    [edgeRuntimeMissing, "MESH_REQUIRE_EDGE_RUNTIME"],
  ] as const
) {
  if (missing === null) continue;
  if (Deno.env.get(variable) === "1") {
    throw new Error(`Cannot run the edge runtime tests as ${missing}, and ${variable}=1`);
  }
  console.error(`WARNING: ${missing} — its runtime tests are SKIPPED`);
}

/** A region served on a loopback port by an edge runtime. */
export interface EdgeServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** The sample wrangler.toml's compatibility date and flags: the tests run what it deploys. */
export async function wranglerCompatibility(): Promise<{ date: string; flags: string[] }> {
  const toml = await Deno.readTextFile(new URL("deploy/cloudflare/wrangler.toml", ROOT));
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  if (date === undefined) {
    throw new Error("deploy/cloudflare/wrangler.toml has no compatibility_date");
  }
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1] ?? "";
  return { date, flags: [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]) };
}

/**
 * Serves the module worker `script` (dist/workerd.js) on workerd through Miniflare, with
 * `bindings` as its variables, on `port` (0: a free one); `scheduled()` fires its Cron Trigger
 * and answers the outcome.
 */
export async function serveWorkerd(
  script: string,
  bindings: Record<string, string>,
  port = 0,
): Promise<EdgeServer & { scheduled(): Promise<string> }> {
  const { Miniflare } = await import("miniflare");
  const { date, flags } = await wranglerCompatibility();
  const mf = new Miniflare({
    modules: true,
    scriptPath: script,
    // workerd refuses module paths that climb out of its root (`..`): root it at the bundle.
    modulesRoot: script.slice(0, script.lastIndexOf("/")),
    compatibilityDate: date,
    compatibilityFlags: flags,
    bindings,
    host: "127.0.0.1",
    port,
  });
  const url = await mf.ready;
  return {
    url: url.href,
    async scheduled() {
      // The worker's Fetcher (workers-types' `scheduled`, which Miniflare's stub type leaves out).
      const worker = await mf.getWorker() as unknown as {
        scheduled(options: { cron: string }): Promise<{ outcome: string }>;
      };
      return (await worker.scheduled({ cron: "* * * * *" })).outcome;
    },
    stop: () => mf.dispose(),
  };
}

/**
 * edge-runtime evaluates scripts, not modules (as Vercel's own tooling feeds it): the module
 * `bundle` (dist/vercel.js: self-contained, one `export { x as default }` at its end) becomes the
 * body of an async function returning that default, and a `fetch` listener hands each request to
 * it with a `waitUntil`, as Vercel calls an Edge Function.
 */
export function edgeScript(bundle: string): string {
  const exported = /\nexport\s*\{\s*([\w$]+) as default\s*\};?/.exec(bundle);
  if (exported === null) throw new Error("the bundle has no `export { x as default }`");
  const body = bundle.slice(0, exported.index) + bundle.slice(exported.index + exported[0].length);
  return `const __edgeFunction = (async () => {\n${body}\nreturn ${exported[1]};\n})();\n` +
    "addEventListener('fetch', (event) => event.respondWith(__edgeFunction.then((handler) =>\n" +
    "  handler(event.request, { waitUntil: (p) => event.waitUntil(p) }))));\n";
}

/** Serves the Edge Function `bundle` (dist/vercel.js) on edge-runtime, `env` as `process.env`. */
export async function serveEdgeRuntime(
  bundle: string,
  env: Record<string, string>,
): Promise<EdgeServer> {
  const { EdgeRuntime, runServer } = await import("edge-runtime");
  const runtime = new EdgeRuntime({
    initialCode: edgeScript(await Deno.readTextFile(bundle)),
    extend: (context) => Object.assign(context, { process: { env } }),
  });
  const server = await runServer({ runtime, port: 0, host: "127.0.0.1" });
  return { url: server.url, stop: () => server.close() };
}

/** Spawns `deno serve` of the module `file` on a free loopback port (not waiting for it). */
export function spawnDenoServe(file: string, env: Record<string, string>): EdgeServer {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["serve", "-A", "--host", "127.0.0.1", "--port", String(port), file],
    cwd: ROOT,
    env: { ...env, NO_COLOR: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    url: `http://127.0.0.1:${port}/`,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/**
 * Bundles the module worker `entry` (a test's own worker around one class) and serves it on
 * workerd through Miniflare; `use` gets its `dispatchFetch`. Everything is gone afterwards.
 */
export async function withWorkerdModule(
  entry: URL,
  use: (fetch: (url: string) => Promise<Response>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mesh-workerd-module-" });
  const { Miniflare } = await import("miniflare");
  try {
    const out = `${dir}/worker.js`;
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform=browser", "--format=esm", "-o", out, entry.pathname],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!built.success) throw new Error(new TextDecoder().decode(built.stderr));
    const mf = new Miniflare({
      modules: true,
      script: await Deno.readTextFile(out),
      compatibilityDate: (await wranglerCompatibility()).date,
    });
    try {
      await use(async (url) => await mf.dispatchFetch(url) as unknown as Response);
    } finally {
      await mf.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
