/**
 * `deno task mesh`: a local mesh of 3 regions in 2 zones, each its own process with its own
 * embedded store, on 127.0.0.1. Generates region keys and the topology under MESH_DATA (default
 * ./data/mesh) on first run, prints the ports and how to push to one region and read another.
 * Ctrl-C stops all three.
 *
 * Env: MESH_DATA (directory), MESH_BASE_PORT (default 8001: regions get 8001, 8002, 8003).
 */
import { AgentKey } from "../src/client/agent_key.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

const data = Deno.env.get("MESH_DATA") ?? "./data/mesh";
const basePort = Number(Deno.env.get("MESH_BASE_PORT") ?? 8001);
await Deno.mkdir(data, { recursive: true });

const regions = await Promise.all(LAYOUT.map(async (r, i) => {
  const keyPath = `${data}/${r.id}.key.json`;
  let key: AgentKey;
  try {
    key = await AgentKey.load(keyPath);
  } catch {
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
const children = regions.map((r) => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: root,
    env: { MESH_REGION: r.id, PORT: String(r.port), MESH_DATA: data, MESH_TOPOLOGY: topologyPath },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  for (const stream of [child.stdout, child.stderr]) {
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({
        write(chunk) {
          for (const line of chunk.split("\n")) {
            if (line.trim() !== "") console.log(`[${r.id}] ${line}`);
          }
        },
      }),
    );
  }
  return child;
});

console.log(`mesh of ${regions.length} regions, topology ${topologyPath}:`);
for (const r of regions) console.log(`  ${r.id.padEnd(5)} zone ${r.zone.padEnd(3)} ${r.url}`);
console.log(`
push to eu-1, read from us-1:
  deno task agent keygen
  deno task agent push demo set greeting '"hello"' --url ${regions[0].url}
  deno task agent get demo --url ${regions[2].url}
  curl -s ${regions[2].url}/v1/status`);

const stop = async () => {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  await Promise.all(children.map((c) => c.status));
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
await Promise.all(children.map((c) => c.status));
