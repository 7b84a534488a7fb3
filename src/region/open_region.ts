/** Wires a region from its configuration: opens the store, builds the app. The Deno shell. */
import type { Hono } from "hono";
import { DenoKvStore } from "../store/deno_kv_store.ts";
import type { RegionStore } from "../store/region_store.ts";
import { createRegionApp } from "./app.ts";
import type { RegionConfig } from "./config.ts";

export interface OpenRegion {
  readonly app: Hono;
  readonly store: RegionStore;
  close(): Promise<void>;
}

/** Opens the configured store (creating MESH_DATA for Deno KV) and the region's app. */
export async function openRegion(config: RegionConfig): Promise<OpenRegion> {
  const store = await openStore(config);
  const app = createRegionApp({ region: config.MESH_REGION, store });
  return { app, store, close: () => store.close() };
}

async function openStore(config: RegionConfig): Promise<RegionStore> {
  if (config.MESH_STORE === "upstash") {
    const { UpstashStore } = await import("../store/upstash_store.ts");
    return new UpstashStore({
      url: config.UPSTASH_REDIS_REST_URL!,
      token: config.UPSTASH_REDIS_REST_TOKEN!,
      prefix: `mesh:${config.MESH_REGION}:`,
    });
  }
  if (config.DENO_DEPLOYMENT_ID !== undefined) {
    // On Deno Deploy the platform's KV (FoundationDB) is the database; it takes no path.
    return new DenoKvStore(await Deno.openKv(), { prefix: ["mesh", config.MESH_REGION] });
  }
  await Deno.mkdir(config.MESH_DATA, { recursive: true });
  return await DenoKvStore.open(`${config.MESH_DATA}/${config.MESH_REGION}.kv`);
}
