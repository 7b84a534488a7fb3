/** Starts `main.ts` as a real region process on a free loopback port, for integration tests. */
import { AgentKey } from "../../src/crypto/agent_key.ts";

const ROOT = new URL("../../", import.meta.url);
/** How long a region process may take to answer its first health check. */
export const REGION_START_MS_MAX = 20_000;
/** How long a stopped region process may take to exit before it is killed (main.ts: 10 s grace). */
export const REGION_STOP_MS_MAX = 15_000;

export interface RegionProcess {
  readonly url: string;
  readonly port: number;
  /** The process id (benchmarks read its memory from /proc). */
  readonly pid: number;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends `signal` (default SIGTERM), then waits for the exit; returns the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * The first of `count` consecutive loopback ports free now, for `deno task mesh` (which takes
 * ports from MESH_BASE_PORT up). Drawn below Linux's ephemeral range (32768 and up), so ports the
 * kernel hands other tests' connections do not land in it while the mesh starts.
 */
export function freePortRange(count: number): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const held: Deno.Listener[] = [];
    try {
      for (let i = 0; i < count; i++) {
        held.push(Deno.listen({ hostname: "127.0.0.1", port: base + i }));
      }
      return base;
    } catch {
      continue;
    } finally {
      for (const l of held) l.close();
    }
  }
  throw new Error(`Cannot find ${count} consecutive free ports`);
}

export async function startRegionProcess(env: Record<string, string>): Promise<RegionProcess> {
  const port = Number(env.PORT ?? freePort());
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: ROOT,
    env: { ...env, PORT: String(port), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeTo(new WritableStream({ write: (chunk) => void (text += decoder.decode(chunk)) }));
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const url = `http://127.0.0.1:${port}`;
  const region: RegionProcess = {
    url,
    port,
    pid: child.pid,
    output: () => text,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already exited */ }
      // Deno 2.9.6 with OTEL_DENO=true sometimes never returns from `Deno.exit` after the region
      // shut down cleanly (1 in 10–20 stops of otlp_process_test; docs/deploy.md): kill it then.
      const timer = setTimeout(() => {
        text += `\n[test harness] SIGKILL: no exit ${REGION_STOP_MS_MAX} ms after ${signal}\n`;
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
      }, REGION_STOP_MS_MAX);
      const status = await child.status;
      clearTimeout(timer);
      await drained;
      return status.code;
    },
  };
  const deadline = Date.now() + REGION_START_MS_MAX;
  for (;;) {
    try {
      const response = await fetch(`${url}/v1/health`);
      await response.body?.cancel();
      if (response.ok) return region;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      await region.stop();
      throw new Error(`Region did not become healthy in ${REGION_START_MS_MAX} ms:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `deno run -A <script> ...args` from the repo root; returns code and output. */
export async function runDeno(
  script: string,
  args: string[],
  env: Record<string, string> = {},
  cwd: string | URL = ROOT,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(script, ROOT).pathname, ...args],
    cwd,
    env: { ...env, NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * Two regions of one zone, eu-1 and eu-2, on free ports with fresh keys, their topology written
 * to `dir`/topology.json; `env(id)` is what a region process of `id` needs to join it.
 */
export async function pairInOneZone(dir: string) {
  const ids = ["eu-1", "eu-2"] as const;
  const keys = { "eu-1": AgentKey.generate(), "eu-2": AgentKey.generate() };
  const ports = { "eu-1": freePort(), "eu-2": freePort() };
  const topology = {
    v: 1,
    zones: [{
      id: "eu",
      regions: ids.map((id) => ({
        id,
        url: `http://127.0.0.1:${ports[id]}`,
        publicKey: keys[id].id,
      })),
    }],
  };
  await Deno.writeTextFile(`${dir}/topology.json`, JSON.stringify(topology));
  return {
    env: (id: "eu-1" | "eu-2"): Record<string, string> => ({
      MESH_REGION: id,
      MESH_TOPOLOGY: `${dir}/topology.json`,
      MESH_REGION_KEY: JSON.parse(keys[id].toFileText()).secretKey,
      PORT: String(ports[id]),
    }),
  };
}
