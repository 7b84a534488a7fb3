/**
 * End to end over HTTP: starts a region (`main.ts`, embedded Deno KV in a temp dir, or
 * MESH_STORE=upstash from the environment) as one process and the load generator as another,
 * then reports throughput (batches of 100) and single-delta latency at 200 requests/s.
 *
 *   deno run -A bench/e2e.ts
 */
const root = new URL("../", import.meta.url);
const data = await Deno.makeTempDir({ prefix: "mesh-bench-" });
const port = 20_000 + Math.floor(Math.random() * 20_000);
const server = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "main.ts"],
  cwd: root,
  env: { PORT: String(port), MESH_DATA: data, MESH_REGION: "bench" },
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
  const throughput = await run("throughput", Deno.env.get("BENCH_DELTAS") ?? "30000", "100", "4");
  const latency = await run("latency", "200", Deno.env.get("BENCH_SECONDS") ?? "10");
  console.log(
    JSON.stringify({
      bench: "e2e",
      store: Deno.env.get("MESH_STORE") ?? "denokv",
      throughput,
      latency,
    }),
  );
} finally {
  server.kill("SIGTERM");
  await server.status;
  await server.stdout.cancel();
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
