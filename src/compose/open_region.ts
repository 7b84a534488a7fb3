/** Wires a region from its configuration: opens the store, the mesh when a topology is given, and
 * the app, on whatever the runtime's adapter gives (`RegionHost`, host.ts). */
import type { Hono } from "hono";
import { verifyEd25519 } from "../crypto/ed25519.ts";
import type { RegionStore } from "../store/region_store.ts";
import { defaultClientAddress } from "../guard/client_address.ts";
import { meshRegionApp } from "./mesh_region_app.ts";
import { instrumentStore } from "./instrumented_store.ts";
import { metricsRoute, metricsScrape } from "./metrics_route.ts";
import { createTelemetry, log, type Telemetry } from "../telemetry/mod.ts";
import { inTopology, type RegionConfig } from "./config.ts";
import { loadAdmission, loadMesh, openStore, type RegionHost } from "./host.ts";
import { MeshNode } from "../mesh/mesh_node.ts";
import { RegionIndex } from "../mesh/region_index.ts";
import { Registry } from "../registry/registry.ts";
import { TopicHub } from "../topics/hub.ts";
import { Blobs } from "../blobs/mod.ts";
import { blobPeers } from "./blob_peers.ts";
import { BackgroundWork } from "./background.ts";
import { StatusBoard } from "../status/board.ts";
import { ProposalBook } from "../proposals/book.ts";
import { ANNOUNCE_TOPIC, ProposalAnnouncer } from "../proposals/announcer.ts";
import { TickScheduler } from "../mesh/tick_scheduler.ts";
import { CheckpointJob } from "../views/checkpoint_job.ts";
import { listChannels } from "../views/channel_directory.ts";
import { Bootstrap, bootstrapMode, peerSizesOf } from "../mesh/bootstrap.ts";
import { BootstrapServer } from "../mesh/bootstrap_server.ts";
import type { StoredHook } from "../mesh/region_index.ts";

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
  /** Writes view checkpoints (issue 13); its job is `checkpoints.tick()`, under a lease. */
  readonly checkpoints: CheckpointJob;
  /** Bootstrap by bulk copy (docs/protocol.md §26); its job is `bootstrap.tick()`. Mesh only. */
  readonly bootstrap: Bootstrap | null;
  /** Announces decided outcomes signed with the region key; null outside a mesh (no key). */
  readonly announcer: ProposalAnnouncer | null;
  /** Work requests started and did not wait for (edge hosts hand it to `waitUntil`). */
  readonly background: BackgroundWork;
  /**
   * The region's jobs when requests drive them (MESH_JOBS_TOKEN set, issue 13): the entrypoint
   * registers them here instead of on timers or queues; `POST /v1/jobs/tick` and a platform's
   * trigger run `jobs.tick()`, pushes run the due lease, heartbeat and fan-out jobs.
   */
  readonly jobs: TickScheduler;
  close(): Promise<void>;
}

/**
 * Opens the configured store, the mesh and the region's app on `host` (the runtime's adapter:
 * `denoHost`, or an edge runtime's). Throws a TypeError naming what is wrong with the config.
 */
export async function openRegion(config: RegionConfig, host: RegionHost): Promise<OpenRegion> {
  const admission = await loadAdmission(config, host);
  const mesh = inTopology(config) ? await loadMesh(config, host) : null;
  // With MESH_METRICS_TOKEN the instruments also record into a meter GET /metrics scrapes.
  const scrape = config.MESH_METRICS_TOKEN === undefined ? null : metricsScrape();
  const telemetry = createTelemetry({ meters: scrape === null ? [] : [scrape.meter] });
  const logger = log.with({ region: config.MESH_REGION });
  const store = instrumentStore(await openStore(config, host), {
    region: config.MESH_REGION,
    telemetry,
    log: logger,
  });
  const background = new BackgroundWork();
  const jobs = new TickScheduler({ telemetry, log: logger });
  const requestJobs = config.MESH_JOBS_TOKEN !== undefined;
  try {
    const index = new RegionIndex(store);
    const registry = new Registry({
      region: config.MESH_REGION,
      store,
      staleMs: config.MESH_AGENT_STALE_MS,
      telemetry,
      // In a mesh the topology names the region's public URL: agent requests must be for it.
      authorities: mesh === null ? [] : [new URL(mesh.self.url).host],
      background: (work) => background.track(work),
    });
    const topics = new TopicHub({ store });
    const proposals = new ProposalBook({ store });
    const relayed: StoredHook = async (deltas, source) => {
      status.noteStored(deltas, source); // declared below; called only once the region serves
      topics.onStored(deltas);
      await registry.onStored(deltas, source);
    };
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
      background: (work) => background.track(work),
      onStored: relayed,
    });
    const bootstrap = mesh === null || node === null ? null : new Bootstrap({
      ...mesh,
      store,
      index,
      verify: verifyEd25519,
      lease: node.lease,
      peers: () => peerSizesOf(node),
      admission,
      onStored: relayed,
      telemetry,
      log: logger,
      mode: bootstrapMode(config.MESH_BOOTSTRAP),
    });
    const bootstrapServer = mesh === null ? undefined : new BootstrapServer({
      ...mesh,
      store,
      verify: verifyEd25519,
      now: Date.now,
      telemetry,
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
      mesh: node === null ? undefined : { node, index, bootstrap: bootstrapServer },
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
      clientAddress: defaultClientAddress(config.MESH_TRUST_PROXY, host.remoteAddress),
      admission,
      corsOrigins: config.MESH_CORS_ORIGINS,
      blobs,
      jobs: requestJobs ? jobs : undefined,
      jobsToken: config.MESH_JOBS_TOKEN,
      background: (work) => background.track(work),
    });
    if (scrape !== null) app.route("/", metricsRoute(config.MESH_METRICS_TOKEN!, scrape.scrape));
    const checkpoints = new CheckpointJob({
      region: config.MESH_REGION,
      store,
      instance: `${config.MESH_REGION}-${crypto.randomUUID().slice(0, 8)}`,
      channels: (after, limit) => listChannels(store, "", after, limit),
      telemetry,
    });
    const announcer = mesh === null ? null : new ProposalAnnouncer({
      book: proposals,
      store,
      region: config.MESH_REGION,
      key: mesh.key,
      admission,
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
      checkpoints,
      bootstrap,
      status,
      background,
      jobs,
      async close() {
        await jobs.stop();
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
