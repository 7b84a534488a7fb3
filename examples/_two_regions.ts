/**
 * Two real regions for the example swarm: eu-1 (zone eu) and us-1 (zone us), each `main.ts` in
 * its own process with its own embedded Deno KV under a temporary folder, region keys and a
 * topology made on the spot, on free ports of 127.0.0.1 (or `MESH_BASE_PORT` and the next).
 * `stop()` ends both and removes the folder.
 */
import { AgentKey } from "../src/crypto/agent_key.ts";

export interface ExampleRegion {
  readonly id: string;
  readonly zone: string;
  readonly url: string;
}

export interface TwoRegions {
  readonly regions: readonly ExampleRegion[];
  stop(): Promise<void>;
}

const LAYOUT = [{ id: "eu-1", zone: "eu" }, { id: "us-1", zone: "us" }];
const ROOT = new URL("../", import.meta.url);
/** Longest a region may take to answer its health check after start, in ms. */
const START_MS_MAX = 30_000;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export async function startTwoRegions(): Promise<TwoRegions> {
  const dir = await Deno.makeTempDir({ prefix: "mesh-example-" });
  // MESH_BASE_PORT, as `deno task mesh` reads it, pins the ports (base and base + 1), for hosts
  // where only some ports may be used; unset, any free ones.
  const base = Deno.env.get("MESH_BASE_PORT");
  const basePort = base === undefined ? null : Number(base);
  if (basePort !== null && !(Number.isInteger(basePort) && basePort >= 1 && basePort < 65535)) {
    throw new RangeError(`MESH_BASE_PORT must be a port from 1 to 65534, not ${base}`);
  }
  const regions = LAYOUT.map((r, i) => {
    const port = basePort === null ? freePort() : basePort + i;
    return { ...r, port, url: `http://127.0.0.1:${port}`, key: AgentKey.generate() };
  });
  const zones = LAYOUT.map(({ zone }) => ({
    id: zone,
    regions: regions.filter((r) => r.zone === zone).map((r) => ({
      id: r.id,
      url: r.url,
      publicKey: r.key.id,
    })),
  }));
  const topology = `${dir}/topology.json`;
  await Deno.writeTextFile(topology, JSON.stringify({ v: 1, zones }));
  const children = regions.map((r) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts"],
      cwd: ROOT,
      env: {
        MESH_REGION: r.id,
        PORT: String(r.port),
        MESH_DATA: `${dir}/${r.id}`,
        MESH_TOPOLOGY: topology,
        MESH_REGION_KEY: JSON.parse(r.key.toFileText()).secretKey,
        MESH_HEARTBEAT_MS: "250",
        MESH_ANTI_ENTROPY_MS: "1000",
        MESH_LOG_LEVEL: "error",
      },
      stdout: "null",
      stderr: "null",
    }).spawn()
  );
  const stop = async () => {
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all(children.map((c) => c.status));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await Promise.all(regions.map((r) => healthy(r.url)));
  } catch (error) {
    await stop();
    throw error;
  }
  return { regions: regions.map(({ id, zone, url }) => ({ id, zone, url })), stop };
}

async function healthy(url: string): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < START_MS_MAX) {
    try {
      const response = await fetch(`${url}/v1/status`);
      const status = await response.json();
      if (response.ok && status.leader?.self === true) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`region at ${url} did not come up within ${START_MS_MAX} ms`);
}
