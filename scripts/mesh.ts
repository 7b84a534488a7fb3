/**
 * `deno task mesh`: a local mesh of 3 regions in 2 zones, each its own process with its own
 * embedded store, on 127.0.0.1. Generates region keys and the topology under MESH_DATA (default
 * ./data/mesh) on first run, prints the ports and how to push to one region and read another.
 * It watches the regions: one that exits is reported and restarted (region_supervisor.ts).
 * Ctrl-C stops all three. A port already in use is one line on stderr and exit code 2.
 *
 * Env: MESH_DATA (directory), MESH_BASE_PORT (default 8001: regions get 8001, 8002, 8003).
 */
import { AgentKey } from "../src/crypto/agent_key.ts";
import { superviseRegion } from "./region_supervisor.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

const data = Deno.env.get("MESH_DATA") ?? "./data/mesh";
const basePort = Number(Deno.env.get("MESH_BASE_PORT") ?? 8001);
if (!Number.isInteger(basePort) || basePort < 1 || basePort + LAYOUT.length - 1 > 65535) {
  fail(`MESH_BASE_PORT must be a port from 1 to ${65536 - LAYOUT.length}`);
}
for (const [i, r] of LAYOUT.entries()) {
  if (!portFree(basePort + i)) {
    fail(
      `port ${basePort + i} (for ${r.id}) is already in use: stop what listens there ` +
        `(another \`deno task mesh\`?) or set MESH_BASE_PORT (regions take ${LAYOUT.length} ports ` +
        `from it)`,
    );
  }
}
await Deno.mkdir(data, { recursive: true });

const regions = await Promise.all(LAYOUT.map(async (r, i) => {
  const keyPath = `${data}/${r.id}.key.json`;
  let key: AgentKey;
  try {
    key = await AgentKey.load(keyPath);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      fail(`${keyPath} cannot be used (${(error as Error).message}): move it aside for a new key`);
    }
    key = AgentKey.generate();
    await key.save(keyPath);
  }
  return { ...r, port: basePort + i, url: `http://127.0.0.1:${basePort + i}`, publicKey: key.id };
}));

const topologyPath = `${data}/topology.json`;
const zones = [...new Set(LAYOUT.map((r) => r.zone))].map((zone) => ({
  id: zone,
  regions: regions.filter((r) => r.zone === zone).map(({ id, url, publicKey }) => ({
    id,
    url,
    publicKey,
  })),
}));
await Deno.writeTextFile(topologyPath, JSON.stringify({ v: 1, zones }, null, 2) + "\n");

const root = new URL("../", import.meta.url);
const supervised = regions.map((r) =>
  superviseRegion(r.id, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts"],
      cwd: root,
      env: {
        MESH_REGION: r.id,
        PORT: String(r.port),
        MESH_DATA: data,
        MESH_TOPOLOGY: topologyPath,
      },
      stdout: "piped",
      stderr: "piped",
    }))
);

console.log(`mesh of ${regions.length} regions, topology ${topologyPath}:`);
for (const r of regions) console.log(`  ${r.id.padEnd(5)} zone ${r.zone.padEnd(3)} ${r.url}`);
console.log(`
push to eu-1, read from us-1:
  deno task agent keygen
  deno task agent push demo set greeting '"hello"' --url ${regions[0].url}
  deno task agent get demo --url ${regions[2].url}
  curl -s ${regions[2].url}/v1/status`);

const stop = async () => {
  await Promise.all(supervised.map((region) => region.stop()));
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
await Promise.all(supervised.map((region) => region.done));

/** One line on stderr and exit code 2: the mesh cannot start as configured. */
function fail(why: string): never {
  console.error(`Cannot start the mesh as ${why}.`);
  Deno.exit(2);
}

/** Whether a TCP port on 127.0.0.1 can be listened on now. */
function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return false;
    throw error;
  }
}
