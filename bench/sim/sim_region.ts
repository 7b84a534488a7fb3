/**
 * One region of the scale simulation: its delta set (a real `IdTrie`, whose root fingerprint is
 * the set fingerprint regions compare), its region log (delta, origin) for fan-out, the
 * equivocations its set proves (the store's rule: two stored deltas in one author/channel/seq
 * slot quarantine the author), and what it knows of each peer (a real `PhiAccrualDetector` fed by
 * answered heartbeats, the peer's last summary, the fan-out cursor and back-off). Its partition
 * view, exchange targets and zone leadership come from the real `partitionView`,
 * `exchangeTargets` and `zoneLeaders`.
 *
 * Ingest is a queue: each region verifies and stores `ingestPerSecond` new deltas a second
 * (duplicates are found in the index and cost nothing), and answers a request once its deltas
 * are stored. The verdict on each envelope (parse and signature) is the pool's (delta_pool.ts).
 */
import { PhiAccrualDetector } from "../../src/mesh/phi_accrual.ts";
import {
  exchangeTargets,
  type PartitionView,
  partitionView,
  type PeerSummary,
  zoneLeaders,
} from "../../src/mesh/partition.ts";
import type { RegionInfo } from "../../src/mesh/topology.ts";
import type { DeltaOrigin } from "../../src/store/region_store.ts";
import { IdTrie, uint32Payloads } from "../../src/sync/id_trie.ts";
import type { SimRegionInfo } from "./scenario.ts";
import type { World } from "./world.ts";

export const HEARTBEAT_MS = 250; // HEARTBEAT_MS_DEFAULT, src/mesh/mesh_node.ts
/** How stale a cached partition view may get, ms (phi moves with time between events). */
const VIEW_REFRESH_MS = 10;

/** Log origins by code, as `fanOutLabel` names them. */
export const ORIGINS: readonly DeltaOrigin[] = ["agent", "zone", "remote", "relay", "sync"];
export const ORIGIN_AGENT = 0;
export const ORIGIN_ZONE = 1;
export const ORIGIN_REMOTE = 2;
export const ORIGIN_SYNC = 4;
export const originCode = (origin: DeltaOrigin): number => ORIGINS.indexOf(origin);

/** What a region keeps about one peer. */
export interface PeerLink {
  readonly detector: PhiAccrualDetector;
  summary: PeerSummary | null;
  /** Log position the peer acknowledged (the fan-out cursor). */
  cursor: number;
  draining: boolean;
  failures: number;
  nextFanOutMs: number;
  /** Log entries after the cursor when the last drain ended. */
  behind: number;
  lastAntiEntropyMs: number;
  /** Per-peer heartbeat mode: a heartbeat to this peer is in flight. */
  heartbeating: boolean;
}

export type Outcome = "accepted" | "duplicate" | "quarantined" | "rejected";

export class SimRegion {
  readonly info: RegionInfo;
  readonly trie = new IdTrie<number>(uint32Payloads);
  /** Per delta: rounds its copy here took; 0 when not held. */
  readonly depth: Uint8Array;
  /** The region log: delta and origin code per entry. */
  log: Int32Array;
  origin: Uint8Array;
  logLength = 0;
  /** Per slot, the first delta stored in it (-1: none). */
  readonly slotFirst: Int32Array;
  /** Agents this region's set proves to have equivocated. */
  readonly quarantine = new Set<number>();
  readonly peers: PeerLink[];
  busyUntilMs = 0;
  antiEntropyRunning = false;
  antiEntropyTurn = 0;
  sessions = 0;
  heartbeatRunning = false;
  #view: PartitionView | null = null;
  #targets: number[] = [];
  #leads = false;
  #viewAtMs = -Infinity;
  readonly #msPerDelta: number;

  constructor(readonly sim: SimRegionInfo, readonly world: World) {
    this.info = world.layout.topology.region(sim.id)!;
    const pool = world.pool;
    this.depth = new Uint8Array(pool.count);
    this.log = new Int32Array(1_024);
    this.origin = new Uint8Array(1_024);
    this.slotFirst = new Int32Array(pool.slots).fill(-1);
    this.peers = world.layout.regions.map(() => ({
      detector: new PhiAccrualDetector({ expectedIntervalMs: HEARTBEAT_MS }),
      summary: null,
      cursor: 0,
      draining: false,
      failures: 0,
      nextFanOutMs: 0,
      behind: 0,
      lastAntiEntropyMs: 0,
      heartbeating: false,
    }));
    const rate = world.options.ingestPerSecond;
    this.#msPerDelta = rate > 0 ? 1_000 / rate : 0;
  }

  get index(): number {
    return this.sim.index;
  }

  /** The partition view now (cached for `VIEW_REFRESH_MS`, dropped when a heartbeat answers). */
  view(): PartitionView {
    const now = this.world.queue.nowMs;
    if (this.#view !== null && now - this.#viewAtMs < VIEW_REFRESH_MS) return this.#view;
    const direct = new Map<string, { phi: number; lastSeenMs: number | null }>();
    const summaries = new Map<string, PeerSummary>();
    for (const r of this.world.layout.regions) {
      if (r.index === this.index) continue;
      const peer = this.peers[r.index];
      direct.set(r.id, { phi: peer.detector.phi(now), lastSeenMs: peer.detector.lastSeenMs });
      if (peer.summary !== null) summaries.set(r.id, peer.summary);
    }
    const topology = this.world.layout.topology;
    const view = partitionView(topology, this.info.id, now, direct, summaries);
    this.#view = view;
    this.#viewAtMs = now;
    const index = this.world.indexOf;
    this.#targets = exchangeTargets(topology, this.info.id, view.reachable, view.direct)
      .map((t) => index.get(t.id)!);
    this.#leads = zoneLeaders(topology, view.reachable).get(this.info.zone) === this.info.id;
    return view;
  }

  /** Exchange targets now, as region indexes. */
  targets(): number[] {
    this.view();
    return this.#targets;
  }

  /** Whether this region leads its zone now. */
  leadsZone(): boolean {
    this.view();
    return this.#leads;
  }

  /** Forgets the cached view (a heartbeat answer changed a detector or a summary). */
  invalidateView(): void {
    this.#view = null;
  }

  /**
   * Takes `deltas` in now, from an agent (`from` -1) or region `from`, each copy `step` rounds
   * past the sender's; `done` gets the outcomes once they are stored (after the ingest queue).
   */
  receive(
    deltas: ArrayLike<number>,
    origin: number,
    from: number,
    step: number,
    done: (outcomes: Outcome[]) => void,
  ): void {
    const { queue, pool } = this.world;
    let fresh = 0;
    for (let i = 0; i < deltas.length; i++) {
      if (pool.valid[deltas[i]] === 1 && this.depth[deltas[i]] === 0) fresh++;
    }
    const start = Math.max(queue.nowMs, this.busyUntilMs);
    this.busyUntilMs = start + fresh * this.#msPerDelta;
    const store = () => {
      const outcomes: Outcome[] = new Array(deltas.length);
      let stored = false;
      for (let i = 0; i < deltas.length; i++) {
        const d = deltas[i];
        const rounds = (from < 0 ? 0 : this.world.regions[from].depth[d]) + step;
        outcomes[i] = this.#store(d, origin, rounds);
        if (outcomes[i] === "accepted") stored = true;
      }
      if (stored) this.world.kick(this.index);
      done(outcomes);
    };
    if (this.busyUntilMs <= queue.nowMs) store();
    else queue.at(this.busyUntilMs, store);
  }

  #store(d: number, origin: number, rounds: number): Outcome {
    const { pool, metrics } = this.world;
    if (pool.valid[d] !== 1) return "rejected";
    if (this.depth[d] !== 0) {
      if (origin !== ORIGIN_AGENT) metrics.duplicates++;
      return "duplicate";
    }
    const author = pool.plan.author[d];
    if (origin === ORIGIN_AGENT && this.quarantine.has(author)) return "quarantined";
    this.depth[d] = Math.max(1, Math.min(255, rounds));
    this.trie.add(pool.id(d), d);
    this.#append(d, origin);
    const slot = pool.slot[d];
    if (this.slotFirst[slot] === -1) this.slotFirst[slot] = d;
    else if (this.slotFirst[slot] !== d) this.quarantine.add(author);
    metrics.storedAt(d, rounds, this.world.queue.nowMs);
    if (origin === ORIGIN_AGENT) metrics.arrivals.agent++;
    else if (origin === ORIGIN_SYNC) metrics.arrivals.sync++;
    else metrics.arrivals.fanout++;
    return "accepted";
  }

  #append(d: number, origin: number): void {
    if (this.logLength === this.log.length) {
      const log = new Int32Array(this.log.length * 2);
      log.set(this.log);
      this.log = log;
      const origins = new Uint8Array(this.origin.length * 2);
      origins.set(this.origin);
      this.origin = origins;
    }
    this.log[this.logLength] = d;
    this.origin[this.logLength++] = origin;
  }
}
