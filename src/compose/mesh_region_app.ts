/**
 * The region's Hono app with the features mounted: the registry's routes always, and the mesh's
 * when the region runs in a topology. The region's routes learn of them only through two
 * functions passed in (what a push stored: wake the fan-out, note liveness and index cards;
 * report the status), and each feature's routes are a Hono app of their own.
 */
import type { Hono } from "hono";
import type { MeshNode } from "../mesh/mesh_node.ts";
import { meshRoutes } from "../mesh/peer_routes.ts";
import { bootstrapRoutes, type BootstrapServer } from "../mesh/bootstrap_server.ts";
import type { RegionIndex } from "../mesh/region_index.ts";
import { createRegionApp, type RegionOptions } from "../region/app.ts";
import { Registry } from "../registry/registry.ts";
import { registryRoutes } from "../registry/routes.ts";
import { TopicHub } from "../topics/hub.ts";
import { mailboxRoutes } from "../mailbox/routes.ts";
import { topicRoutes } from "../topics/routes.ts";
import { ProposalBook } from "../proposals/book.ts";
import { proposalRoutes } from "../proposals/routes.ts";
import { blobRoutes, Blobs } from "../blobs/mod.ts";
import { blobPeers } from "./blob_peers.ts";
import { StatusBoard } from "../status/board.ts";
import { statusAnswer, statusRoutes } from "../status/routes.ts";
import { PUSH_JOBS, type TickScheduler } from "../mesh/tick_scheduler.ts";
import { jobsRoute } from "./jobs_route.ts";

export interface MeshRegionOptions extends RegionOptions {
  /** The mesh, when the region runs in a topology: /v1/peer/*, /v1/sync, and its status. */
  readonly mesh?: {
    readonly node: MeshNode;
    readonly index: RegionIndex;
    /** Serves bulk-copy pages (`POST /v1/peer/bootstrap`, §26); absent, the route is 404. */
    readonly bootstrap?: BootstrapServer;
  };
  /**
   * The registry (/v1/agents); give the one the mesh node's `onStored` feeds. Default: one over
   * the region's store and clock.
   */
  readonly registry?: Registry;
  /** The topic hub (/v1/topics); give the one the mesh node's `onStored` feeds. Default: new. */
  readonly topics?: TopicHub;
  /** The proposals a region holds (/v1/proposals). Default: one over the region's store. */
  readonly proposals?: ProposalBook;
  /**
   * The blobs (/v1/blobs); give the one whose job runs. Default: one over the region's store,
   * pulling from the mesh's regions with `peerFetch`.
   */
  readonly blobs?: Blobs;
  /** `fetch` for the default blobs' pulls from peers. Default `globalThis.fetch`. */
  readonly peerFetch?: typeof fetch;
  /**
   * The status board (/v1/status, /v1/status/stream, the page at /); give the one the mesh
   * node's `onStored` feeds. Default: new, over the mesh node when there is one.
   */
  readonly board?: StatusBoard;
  /**
   * The region's jobs when requests drive them (issue 13): a push runs the due lease, heartbeat
   * and fan-out jobs beside its answer. Default: none (timers or queues run the jobs).
   */
  readonly jobs?: TickScheduler;
  /** With `jobs`: the bearer token of `POST /v1/jobs/tick` (MESH_JOBS_TOKEN); unset, no route. */
  readonly jobsToken?: string;
  /** Told of the rounds pushes start and do not wait for (edge hosts: `waitUntil`). */
  readonly background?: (work: Promise<unknown>) => void;
}

export function meshRegionApp(options: MeshRegionOptions): Hono {
  const {
    mesh,
    registry: given,
    topics: givenHub,
    proposals: givenBook,
    board: givenBoard,
    jobs,
    jobsToken,
    background,
    ...region
  } = options;
  const proposals = givenBook ?? new ProposalBook({ store: region.store, now: region.now });
  const topics = givenHub ?? new TopicHub({ store: region.store });
  const board = givenBoard ?? new StatusBoard({
    region: region.region,
    store: region.store,
    mesh: mesh?.node,
    topicSubscribers: () => topics.size,
    now: region.now,
  });
  const registry = given ?? new Registry({
    region: region.region,
    store: region.store,
    now: region.now,
    telemetry: region.telemetry,
  });
  const blobs = options.blobs ?? new Blobs({
    region: options.region,
    store: options.store,
    now: options.now,
    telemetry: options.telemetry,
    peers: mesh === undefined ? undefined : () => blobPeers(mesh.node.topology, mesh.node.self),
    fetch: options.peerFetch,
  });
  const app = createRegionApp({
    ...region,
    onStored: async (stored) => {
      mesh?.node.kick();
      // Beside the answer: the round ends on its own, and a failure is the job's to count.
      const round = jobs?.tick(PUSH_JOBS);
      if (round !== undefined) background?.(round);
      board.noteStored(stored, null);
      await region.onStored?.(stored);
      await registry.onStored(stored, null);
      topics.onStored(stored);
    },
    onAdmitted: mesh === undefined ? region.onAdmitted : (deltas) => {
      mesh.node.forward(deltas, "agent");
      region.onAdmitted?.(deltas);
    },
    status: region.status ?? ((c) => statusAnswer(board, c)),
    authorities: region.authorities ?? registry.authorities,
    routes: [
      ...region.routes ?? [],
      topicRoutes(topics),
      statusRoutes(board),
      mailboxRoutes(),
      proposalRoutes(proposals),
      blobRoutes(blobs),
    ],
  });
  app.route("/", registryRoutes(registry));
  if (mesh !== undefined) app.route("/", meshRoutes(mesh.node, mesh.index, region.admission));
  if (mesh?.bootstrap !== undefined) app.route("/", bootstrapRoutes(mesh.bootstrap));
  if (jobs !== undefined && jobsToken !== undefined) {
    app.route("/", jobsRoute(jobsToken, () => jobs.tick()));
  }
  return app;
}
