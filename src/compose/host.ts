/**
 * What a region needs from the runtime it runs on beyond web standards, given by that runtime's
 * adapter (src/adapters/): files, Deno KV, and the client's address. The core itself reads no
 * file, opens no Deno KV and knows no connection: where a runtime lacks a capability the field is
 * absent, and a configuration that needs it stops the region at start, naming what to set
 * instead. And the three parts of opening a region that use the host: the admission file, the
 * topology with the region key, and the store.
 */
import type { Context } from "hono";
import { AgentKey } from "../crypto/agent_key.ts";
import { type AdmissionPolicy, parseAdmission } from "../guard/admission.ts";
import { Topology } from "../mesh/topology.ts";
import type { RegionStore } from "../store/region_store.ts";
import type { RegionConfig } from "./config.ts";

/** A region key read from (or just written to) its key file. */
export interface RegionKeyFile {
  readonly key: AgentKey;
  /** The file's path, for messages. */
  readonly source: string;
  /** True when the file was created just now (the region had no key yet). */
  readonly created: boolean;
  /** Removes the file again (a key made just now for a region the topology gives another key). */
  discard(): Promise<void>;
}

/** The runtime's side of a region; each runtime's adapter gives one. */
export interface RegionHost {
  /** The runtime's name in messages: `deno`, `workerd`, `vercel-edge`. */
  readonly runtime: string;
  /** Reads a file the configuration names (MESH_TOPOLOGY, MESH_ADMISSION). Absent: no files. */
  readonly readTextFile?: (path: string) => Promise<string>;
  /** Opens the Deno KV store (`MESH_STORE=denokv`). Absent: the runtime has Upstash only. */
  readonly openDenoKv?: (config: RegionConfig) => Promise<RegionStore>;
  /** Reads `<dataDir>/<region>.key.json`, creating it on first start. Absent: MESH_REGION_KEY only. */
  readonly regionKeyFile?: (region: string, dataDir: string) => Promise<RegionKeyFile>;
  /**
   * The client's address as the runtime knows it: its connection info, or the header its own
   * edge sets and no client can (`CF-Connecting-IP`, `X-Real-IP`). Absent or undefined: unknown.
   */
  readonly remoteAddress?: (c: Context) => string | undefined;
}

/** The text of a file the configuration names, or of its `_JSON` variable; and where it is from. */
async function configText(
  host: RegionHost,
  name: "MESH_TOPOLOGY" | "MESH_ADMISSION",
  path: string | undefined,
  inline: string | undefined,
): Promise<{ text: string; source: string }> {
  if (inline !== undefined) return { text: inline, source: `from ${name}_JSON` };
  if (host.readTextFile === undefined) {
    throw new TypeError(
      `Cannot start region as ${name} names a file, but ${host.runtime} has no files: ` +
        `set ${name}_JSON to the file's text instead`,
    );
  }
  try {
    return { text: await host.readTextFile(path!), source: path! };
  } catch (error) {
    throw new TypeError(
      `Cannot start region as ${name} ${path} cannot be read: ${(error as Error).message}`,
    );
  }
}

/** Reads and parses the admission policy, when one is configured. Throws naming what is wrong. */
export async function loadAdmission(
  config: RegionConfig,
  host: RegionHost,
): Promise<AdmissionPolicy | undefined> {
  const { MESH_ADMISSION: path, MESH_ADMISSION_JSON: inline } = config;
  if (path === undefined && inline === undefined) return undefined;
  const { text, source } = await configText(host, "MESH_ADMISSION", path, inline);
  return parseAdmission(text, source);
}

/** Reads the topology and this region's key; they must agree. Throws naming what is wrong. */
export async function loadMesh(config: RegionConfig, host: RegionHost) {
  const { text, source: where } = await configText(
    host,
    "MESH_TOPOLOGY",
    config.MESH_TOPOLOGY,
    config.MESH_TOPOLOGY_JSON,
  );
  const topology = Topology.parse(text, `topology ${where}`);
  const self = topology.region(config.MESH_REGION);
  if (self === undefined) {
    throw new TypeError(
      `Cannot start region as MESH_REGION "${config.MESH_REGION}" is not in topology ${where}`,
    );
  }
  const { key, source, created, discard } = await regionKey(config, host);
  if (key.id !== self.publicKey) {
    // A key made just now for a region that has one elsewhere is of no use: do not leave it.
    if (created) await discard().catch(() => {});
    throw new TypeError(
      `Cannot start region as its key (${source}${
        created ? ", just created" : ""
      }) has public key ${key.id}, ` +
        `but topology ${where} lists ${self.publicKey} for region "${self.id}"` +
        (created
          ? `: set MESH_DATA to the folder holding ${config.MESH_REGION}.key.json ` +
            "(for `deno task mesh`: ./data/mesh) or MESH_REGION_KEY to its secret"
          : ""),
    );
  }
  return { self, topology, key };
}

/** The region key: MESH_REGION_KEY, else the host's key file. */
async function regionKey(config: RegionConfig, host: RegionHost): Promise<RegionKeyFile> {
  if (config.MESH_REGION_KEY !== undefined) {
    const key = AgentKey.fromSecret(config.MESH_REGION_KEY);
    return { key, source: "MESH_REGION_KEY", created: false, discard: async () => {} };
  }
  if (host.regionKeyFile === undefined) {
    throw new TypeError(
      `Cannot start region as MESH_REGION_KEY is not set and ${host.runtime} has no files ` +
        "for a key file: set MESH_REGION_KEY to the region's secret (base64url)",
    );
  }
  return await host.regionKeyFile(config.MESH_REGION, config.MESH_DATA);
}

/** Opens the configured store: Upstash over `fetch`, or the host's Deno KV. */
export async function openStore(config: RegionConfig, host: RegionHost): Promise<RegionStore> {
  if (config.MESH_STORE === "upstash") {
    const { UpstashStore } = await import("../store/upstash_store.ts");
    return new UpstashStore({
      url: config.UPSTASH_REDIS_REST_URL!,
      token: config.UPSTASH_REDIS_REST_TOKEN!,
      prefix: `mesh:${config.MESH_REGION}:`,
    });
  }
  if (host.openDenoKv === undefined) {
    throw new TypeError(
      `Cannot start region as MESH_STORE is denokv, but ${host.runtime} has no Deno KV: ` +
        "set MESH_STORE=upstash with UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN",
    );
  }
  return await host.openDenoKv(config);
}
