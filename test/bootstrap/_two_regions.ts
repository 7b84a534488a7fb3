/**
 * Two regions of one zone in one process for bulk-copy tests: `eu-1` (the peer, seeded with
 * signed deltas) and `eu-2` (the region that bootstraps), each the real region app with a
 * MeshNode, the bootstrap server and a Bootstrap job over a store the test gives. Requests between
 * them are routed in memory; `lie` rewrites the peer's page answers and signs them again with the
 * peer's key (a Byzantine peer signs its lies). The clock is the test's.
 */
import type { Hono } from "hono";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { Bootstrap, type BootstrapMode, peerSizesOf } from "../../src/mesh/bootstrap.ts";
import { BOOTSTRAP_PATH } from "../../src/mesh/bootstrap_page.ts";
import { BootstrapServer } from "../../src/mesh/bootstrap_server.ts";
import { MeshNode } from "../../src/mesh/mesh_node.ts";
import { RegionIndex } from "../../src/mesh/region_index.ts";
import { SIGNATURE_HEADER, signRegionAnswer } from "../../src/mesh/region_message.ts";
import { Topology } from "../../src/mesh/topology.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { ingest } from "../../src/region/ingest.ts";
import { createTelemetry, log, type Telemetry } from "../../src/telemetry/mod.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

export interface Side {
  readonly id: string;
  readonly store: RegionStore;
  readonly index: RegionIndex;
  readonly node: MeshNode;
  readonly app: Hono;
  readonly key: AgentKey;
  bootstrap: Bootstrap;
}

/** A page answer as the peer signed it: rewrite it (or return null to answer it unchanged). */
export type Lie = (answer: Record<string, unknown>, page: number) => Record<string, unknown> | null;

export interface TwoRegionsOptions {
  readonly mode?: BootstrapMode;
  readonly deltasMin?: number;
  readonly telemetry?: Telemetry;
}

export class TwoRegions {
  nowMs = T0_MS;
  readonly topology: Topology;
  readonly peer: Side;
  readonly fresh: Side;
  /** Rewrites the peer's page answers (a lying peer). */
  lie: Lie | null = null;
  /** Throws on a page request instead of answering (the network fails), while true. */
  down = false;
  /** Reconciliation rounds (`POST /v1/sync`) either region sent. */
  syncRounds = 0;
  /** Page requests the peer was sent, with the cursor each asked for. */
  readonly asked: { shard: number; after: number }[] = [];
  readonly #options: TwoRegionsOptions;

  constructor(peerStore: RegionStore, freshStore: RegionStore, options: TwoRegionsOptions = {}) {
    this.#options = options;
    const keys = { "eu-1": AgentKey.generate(), "eu-2": AgentKey.generate() };
    this.topology = Topology.parse(JSON.stringify({
      v: 1,
      zones: [{
        id: "eu",
        regions: Object.entries(keys).map(([id, key]) => ({
          id,
          url: `http://${id}.mesh.test`,
          publicKey: key.id,
        })),
      }],
    }));
    this.peer = this.#side("eu-1", keys["eu-1"], peerStore);
    this.fresh = this.#side("eu-2", keys["eu-2"], freshStore);
  }

  #side(id: string, key: AgentKey, store: RegionStore): Side {
    const telemetry = this.#options.telemetry ?? createTelemetry();
    const self = this.topology.region(id)!;
    const index = new RegionIndex(store);
    const now = () => this.nowMs;
    const fetch = (input: string | URL | Request, init?: RequestInit) => this.#route(input, init);
    const node = new MeshNode({
      self,
      topology: this.topology,
      key,
      store,
      index,
      verify: verifyEd25519,
      instance: `${id}-i1`,
      now,
      fetch,
      peerTimeoutMs: 60_000,
      telemetry,
    });
    const server = new BootstrapServer({
      self,
      topology: this.topology,
      key,
      store,
      verify: verifyEd25519,
      now,
      telemetry,
    });
    const app = meshRegionApp({ region: id, store, now, mesh: { node, index, bootstrap: server } });
    const side: Side = { id, store, index, node, app, key, bootstrap: null! };
    side.bootstrap = this.newBootstrap(side);
    return side;
  }

  /** A Bootstrap job for `side` (a fresh one stands for a restarted process). */
  newBootstrap(side: Side): Bootstrap {
    return new Bootstrap({
      self: this.topology.region(side.id)!,
      topology: this.topology,
      key: side.key,
      store: side.store,
      index: side.index,
      verify: verifyEd25519,
      lease: side.node.lease,
      peers: () => peerSizesOf(side.node),
      now: () => this.nowMs,
      fetch: (input, init) => this.#route(input, init),
      telemetry: this.#options.telemetry ?? createTelemetry(),
      log: log.with({ region: side.id }),
      mode: this.#options.mode,
      deltasMin: this.#options.deltasMin,
    });
  }

  async #route(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const to = url.hostname.split(".")[0];
    const side = to === "eu-1" ? this.peer : this.fresh;
    if (url.pathname === "/v1/sync") this.syncRounds++;
    if (url.pathname !== BOOTSTRAP_PATH) return await side.app.request(url.pathname, init);
    if (this.down) throw new TypeError("connection refused");
    this.asked.push(JSON.parse(String(init?.body)).cursor);
    const response = await side.app.request(url.pathname, init);
    if (this.lie === null || response.status !== 200) return response;
    const rewritten = this.lie(await response.json(), this.asked.length);
    if (rewritten === null) return response;
    const signed = signRegionAnswer((b) => side.key.sign(b), rewritten as never);
    return new Response(signed.body, {
      headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signed.signature },
    });
  }

  /** Leases and heartbeats on both regions (peers up, summaries known), then the clock moves. */
  async tick(stepMs = 250): Promise<void> {
    for (const side of [this.peer, this.fresh]) await side.node.leaseTick();
    for (const side of [this.peer, this.fresh]) await side.node.heartbeatTick();
    this.nowMs += stepMs;
  }

  /**
   * Stores `count` signed deltas in the peer over `channels` channels, through ingest with origin
   * `sync` (never fanned out: the fresh region can get them only by copy or reconciliation, as a
   * reset region whose peers' fan-out cursors are past them); returns the envelopes.
   */
  async seed(count: number, channels = 3): Promise<Envelope[]> {
    const agents = Array.from({ length: Math.ceil(count / 2_000) }, () => testAgent(() => T0_MS));
    const envelopes: Envelope[] = [];
    for (let i = 0; i < count; i++) {
      const agent = agents[i % agents.length];
      envelopes.push(agent.sign(`room-${i % channels}`, [{ op: "inc", counter: "n", by: 1 }]));
    }
    for (let i = 0; i < envelopes.length; i += 500) {
      const batch = envelopes.slice(i, i + 500);
      const { results } = await ingest(batch, this.peer.store, verifyEd25519, this.nowMs, {
        origin: "sync",
      });
      if (results.some((r) => r.status !== "accepted")) throw new Error("seed refused");
    }
    return envelopes;
  }

  /** Whether both regions hold the same set (fingerprint and count). */
  async converged(): Promise<boolean> {
    await this.peer.index.catchUp();
    await this.fresh.index.catchUp();
    return this.peer.index.fingerprint() === this.fresh.index.fingerprint() &&
      this.peer.index.size === this.fresh.index.size;
  }
}
