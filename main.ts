/**
 * `deno task start`: one region on the embedded Deno KV store (or Upstash with MESH_STORE=upstash),
 * listening on HOST:PORT (default 127.0.0.1:8000).
 */
import { regionConfig } from "./src/region/config.ts";
import { openRegion } from "./src/region/open_region.ts";

let config;
try {
  config = regionConfig(Deno.env.toObject());
} catch (error) {
  console.error((error as Error).message);
  Deno.exit(2);
}
const region = await openRegion(config);
const server = Deno.serve({
  hostname: config.HOST,
  port: config.PORT,
  onListen({ hostname, port }) {
    const url = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    console.log(
      `mesh region "${config.MESH_REGION}" (${region.store.kind}) listening on ${url}`,
    );
    console.log(
      `try: curl ${url}/v1/health   ·   deno task agent keygen && deno task agent push demo set greeting '"hello"' --url ${url}`,
    );
  },
}, region.app.fetch);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await server.shutdown();
    await region.close();
    Deno.exit(0);
  });
}
