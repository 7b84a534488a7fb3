/** Wires a region from its configuration: opens the store, the mesh when a topology is given, and
 * the app. The Deno shell around the pure core. */
import type { Hono } from "hono";
import { verifyEd25519 } from "../crypto/mod.ts";
import { DenoKvStore } from "../store/deno_kv_store.ts";
import type { RegionStore } from "../store/region_store.ts";
import { type AdmissionPolicy, parseAdmission } from "../guard/admission.ts";
import { meshRegionApp } from "./mesh_region_app.ts";
import { instrumentStore } from "./instrumented_store.ts";
import { metricsRoute, metricsScrape } from "./metrics_route.ts";
import { createTelemetry, log, type Telemetry } from "../telemetry/mod.ts";
import type { RegionConfig } from "./config.ts";
import { MeshNode } from "../mesh/mesh_node.ts";
import { RegionIndex } from "../mesh/region_index.ts";
import { loadRegionKey } from "../mesh/region_key.ts";
import { Topology } from "../mesh/topology.ts";
import { Registry } from "../registry/registry.ts";
import { TopicHub } from "../topics/hub.ts";
import { Blobs } from "../blobs/mod.ts";
import { blobPeers } from "./blob_peers.ts";
import { StatusBoard } from "../status/board.ts";
import { ProposalBook } from "../proposals/book.ts";
import { ANNOUNCE_TOPIC, ProposalAnnouncer } from "../proposals/announcer.ts";

export interface OpenRegion {
  readonly app: Hono;
  readonly store: RegionStore;
  /** Present when the region runs in a topology. */
  readonly mesh: MeshNode | null;
  /** The instruments every part of the region records into (give them to its schedulers). */
  readonly telemetry: Telemetry;
  /** The agent registry (/v1/agents); its job is `registry.tick()`. */
  readonly registry: Registry;
  /** The topic hub: `topics.close()` ends every subscription (before a server shutdown). */
  readonly topics: TopicHub;
  /** The status board: `status.close()` ends every status stream (before a server shutdown). */
  readonly status: StatusBoard;
  /** The proposals the region holds (/v1/proposals). */
  readonly proposals: ProposalBook;
  /** Content-addressed blobs (/v1/blobs); its job is `blobs.tick()` (the collector). */
  readonly blobs: Blobs;
  /** Announces decided outcomes signed with the region key; null outside a mesh (no key). */
  readonly announcer: ProposalAnnouncer | null;
  close(): Promise<void>;
}

/** Opens the configured store (creating MESH_DATA for Deno KV), the mesh and the region's app. */
export async function openRegion(config: RegionConfig): Promise<OpenRegion> {
  const admission = await loadAdmission(config);
  const mesh = config.MESH_TOPOLOGY === undefined ? null : await loadMesh(config);
  // With MESH_METRICS_TOKEN the instruments also record into a meter GET /metrics scrapes.
  const scrape = config.MESH_METRICS_TOKEN === undefined ? null : metricsScrape();
  const telemetry = createTelemetry({ meters: scrape === null ? [] : [scrape.meter] });
  const logger = log.with({ region: config.MESH_REGION });
  const store = instrumentStore(await openStore(config), {
    region: config.MESH_REGION,
    telemetry,
    log: logger,
  });
  try {
    const index = new RegionIndex(store);
    const registry = new Registry({
      region: config.MESH_REGION,
      store,
      staleMs: config.MESH_AGENT_STALE_MS,
      telemetry,
      // In a mesh the topology names the region's public URL: agent requests must be for it.
      authorities: mesh === null ? [] : [new URL(mesh.self.url).host],
    });
    const topics = new TopicHub({ store });
    const proposals = new ProposalBook({ store });
    const node = mesh === null ? null : new MeshNode({
      ...mesh,
      store,
      index,
      verify: verifyEd25519,
      instance: `${config.MESH_REGION}-${crypto.randomUUID().slice(0, 8)}`,
      heartbeatMs: config.MESH_HEARTBEAT_MS,
      leaseTtlMs: config.MESH_LEASE_TTL_MS,
      antiEntropyMs: config.MESH_ANTI_ENTROPY_MS,
      telemetry,
      log: logger,
      admission,
      onStored: async (deltas, source) => {
        status.noteStored(deltas, source); // declared below; called only once the region serves
        topics.onStored(deltas);
        await registry.onStored(deltas, source);
      },
    });
    const status = new StatusBoard({
      region: config.MESH_REGION,
      store,
      mesh: node ?? undefined,
      topicSubscribers: () => topics.size,
    });
    const blobs = new Blobs({
      region: config.MESH_REGION,
      store,
      telemetry,
      peers: mesh === null ? undefined : () => blobPeers(mesh.topology, mesh.self),
      graceMs: config.MESH_BLOB_GRACE_MS,
      gcEveryMs: config.MESH_BLOB_GC_MS,
      budgets: {
        authorBytesPerS: config.MESH_BLOB_AUTHOR_BYTES_PER_S,
        authorBurstBytes: config.MESH_BLOB_AUTHOR_BURST_BYTES,
        addressBytesPerS: config.MESH_BLOB_ADDRESS_BYTES_PER_S,
        addressBurstBytes: config.MESH_BLOB_ADDRESS_BURST_BYTES,
      },
      instance: `${config.MESH_REGION}-${crypto.randomUUID().slice(0, 8)}`,
    });
    const app = meshRegionApp({
      region: config.MESH_REGION,
      store,
      telemetry,
      mesh: node === null ? undefined : { node, index },
      registry,
      topics,
      proposals,
      board: status,
      rateLimits: {
        addressPushRatePerS: config.MESH_ADDRESS_PUSH_RATE_PER_S,
        addressPushBurst: config.MESH_ADDRESS_PUSH_BURST,
        authorDeltaRatePerS: config.MESH_AUTHOR_DELTA_RATE_PER_S,
        authorDeltaBurst: config.MESH_AUTHOR_DELTA_BURST,
      },
      trustProxy: config.MESH_TRUST_PROXY,
      admission,
      corsOrigins: config.MESH_CORS_ORIGINS,
      blobs,
    });
    if (scrape !== null) app.route("/", metricsRoute(config.MESH_METRICS_TOKEN!, scrape.scrape));
    const announcer = mesh === null ? null : new ProposalAnnouncer({
      book: proposals,
      store,
      region: config.MESH_REGION,
      key: mesh.key,
      // Through the region's own publish route: admission, fan-out and topic delivery as any push.
      publish: async (envelope) => {
        const answer = await app.request(`/v1/topics/${ANNOUNCE_TOPIC}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ messages: [envelope] }),
        });
        if (!answer.ok) return `http ${answer.status}`;
        return ((await answer.json()) as { results: { status: string }[] }).results[0].status;
      },
    });
    return {
      app,
      store,
      mesh: node,
      telemetry,
      registry,
      topics,
      proposals,
      announcer,
      blobs,
      status,
      async close() {
        await registry.liveness.flush(Date.now()).catch(() => 0); // what waits, if it can
        topics.close();
        status.close();
        await node?.lease.release();
        await store.close();
        await scrape?.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** Reads and parses the admission file, when one is configured. Throws naming what is wrong. */
async function loadAdmission(config: RegionConfig): Promise<AdmissionPolicy | undefined> {
  const path = config.MESH_ADMISSION;
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new TypeError(
      `Cannot start region as MESH_ADMISSION ${path} cannot be read: ${(error as Error).message}`,
    );
  }
  return parseAdmission(text, path);
}

/** Reads the topology and this region's key; they must agree. Throws naming what is wrong. */
async function loadMesh(config: RegionConfig) {
  const path = config.MESH_TOPOLOGY!;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new TypeError(
      `Cannot start region as MESH_TOPOLOGY ${path} cannot be read: ${(error as Error).message}`,
    );
  }
  const topology = Topology.parse(text, `topology ${path}`);
  const self = topology.region(config.MESH_REGION);
  if (self === undefined) {
    throw new TypeError(
      `Cannot start region as MESH_REGION "${config.MESH_REGION}" is not in topology ${path}`,
    );
  }
  const { key, source, created } = await loadRegionKey(
    config.MESH_REGION,
    config.MESH_DATA,
    config.MESH_REGION_KEY,
  );
  if (key.id !== self.publicKey) {
    // A key made just now for a region that has one elsewhere is of no use: do not leave it.
    if (created) await Deno.remove(source).catch(() => {});
    throw new TypeError(
      `Cannot start region as its key (${source}${
        created ? ", just created" : ""
      }) has public key ${key.id}, ` +
        `but topology ${path} lists ${self.publicKey} for region "${self.id}"` +
        (created
          ? `: set MESH_DATA to the folder holding ${config.MESH_REGION}.key.json ` +
            "(for `deno task mesh`: ./data/mesh) or MESH_REGION_KEY to its secret"
          : ""),
    );
  }
  return { self, topology, key };
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
