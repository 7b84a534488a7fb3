/**
 * End to end over HTTP: starts a region (`main.ts`) as one process and the load generator as
 * another, then reports throughput (batches of 100) and single-delta latency at 200 requests/s.
 *
 *   deno run -A bench/e2e.ts                 # embedded Deno KV in a temp dir
 *   deno run -A bench/e2e.ts upstash         # Upstash store: a local redis-server behind the
 *                                            # Upstash REST test server; also counts round trips
 */
import { startUpstashEnv } from "../test/support/upstash_rest_server.ts";

const root = new URL("../", import.meta.url);
const store = Deno.args[0] ?? "denokv";
const data = await Deno.makeTempDir({ prefix: "mesh-bench-" });
const port = 20_000 + Math.floor(Math.random() * 20_000);
const upstash = store === "upstash" ? await startUpstashEnv() : null;
const storeEnv: Record<string, string> = upstash === null ? { MESH_DATA: data } : {
  MESH_STORE: "upstash",
  UPSTASH_REDIS_REST_URL: upstash.rest.url,
  UPSTASH_REDIS_REST_TOKEN: upstash.rest.token,
};
const server = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "main.ts"],
  cwd: root,
  env: { PORT: String(port), MESH_REGION: "bench", ...storeEnv },
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const url = `http://127.0.0.1:${port}`;
try {
  await waitHealthy(url);
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "bench/load_gen.ts", url, ...args],
      cwd: root,
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`load generator failed: ${args.join(" ")}`);
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  };
  await run("throughput", "2000", "100", "4"); // warm-up
  upstash?.rest.resetStats();
  const throughput = await run("throughput", Deno.env.get("BENCH_DELTAS") ?? "30000", "100", "4");
  const pushes = Math.ceil(throughput.deltas / throughput.batch);
  const roundTrips = upstash === null ? undefined : {
    rest_requests: upstash.rest.stats.requests,
    per_push_of_100: Number((upstash.rest.stats.requests / pushes).toFixed(2)),
  };
  const latency = await run("latency", "200", Deno.env.get("BENCH_SECONDS") ?? "10");
  console.log(
    JSON.stringify({ bench: "e2e", store, throughput, round_trips: roundTrips, latency }),
  );
} finally {
  try {
    server.kill("SIGTERM");
  } catch { /* already exited */ }
  await server.status;
  await server.stdout.cancel();
  await upstash?.stop();
  await Deno.remove(data, { recursive: true });
}

async function waitHealthy(base: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${base}/v1/health`);
      await r.body?.cancel();
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("region did not become healthy");
}
