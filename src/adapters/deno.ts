/**
 * The Deno adapter: what a region takes from Deno beyond web standards — the files the
 * configuration names, Deno KV (a file under MESH_DATA, or Deno Deploy's own database), the
 * region's key file, and the remote address `Deno.serve` passes each handler. `main.ts` (a
 * long-lived process) and `functions/region.ts` (Deno Deploy, `deno serve`) run on it.
 */
import { AgentKey } from "../crypto/agent_key.ts";
import type { RegionConfig } from "../compose/config.ts";
import type { RegionHost, RegionKeyFile } from "../compose/host.ts";
import { serverRemoteAddress } from "../guard/client_address.ts";
import { DenoKvStore } from "../store/deno_kv_store.ts";
import type { RegionStore } from "../store/region_store.ts";

export const denoHost: RegionHost = {
  runtime: "deno",
  readTextFile: (path) => Deno.readTextFile(path),
  openDenoKv: openDenoKvStore,
  regionKeyFile: loadRegionKeyFile,
  remoteAddress: serverRemoteAddress,
};

/** The process's environment, for `regionConfig()`. */
export function denoEnv(): Record<string, string> {
  return Deno.env.toObject();
}

/**
 * Deno Deploy's KV when the platform says it runs there (`DENO_DEPLOYMENT_ID`; keys under
 * `["mesh", region]`), else the file `<MESH_DATA>/<region>.kv`, creating MESH_DATA.
 */
async function openDenoKvStore(config: RegionConfig): Promise<RegionStore> {
  if (config.DENO_DEPLOYMENT_ID !== undefined) {
    // On Deno Deploy the platform's KV (FoundationDB) is the database; it takes no path.
    return new DenoKvStore(await Deno.openKv(), { prefix: ["mesh", config.MESH_REGION] });
  }
  await Deno.mkdir(config.MESH_DATA, { recursive: true });
  return await DenoKvStore.open(`${config.MESH_DATA}/${config.MESH_REGION}.kv`);
}

/** `<dataDir>/<region>.key.json`, created (mode 0600) on first start. */
export async function loadRegionKeyFile(region: string, dataDir: string): Promise<RegionKeyFile> {
  const path = `${dataDir}/${region}.key.json`;
  const discard = () => Deno.remove(path);
  try {
    return { key: await AgentKey.load(path), source: path, created: false, discard };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(dataDir, { recursive: true });
  const key = AgentKey.generate();
  await key.save(path);
  return { key, source: path, created: true, discard };
}
