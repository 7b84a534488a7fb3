/**
 * One instance's status board: what it measures for the status document besides the mesh's own
 * status — deltas stored per second, propagation lag per peer, the coordination figures — and the
 * stream of snapshots (`feed`). Told of every stored delta by the composition root
 * (`noteStored`); asked for the document by `GET /v1/status` and by the stream.
 */
import type { MeshNode } from "../mesh/mesh_node.ts";
import { SUMMARY_FRESH_MS_DEFAULT } from "../mesh/partition.ts";
import type { RegionStore } from "../store/region_store.ts";
import { CoordinationCounter } from "./coordination.ts";
import {
  changeKey,
  meshStatusDocument,
  standaloneStatusDocument,
  type StatusDocument,
  type StatusFigures,
} from "./document.ts";
import { StatusFeed, type StatusFeedOptions } from "./feed.ts";
import { LagReservoir } from "./lag_reservoir.ts";
import { ThroughputMeter } from "./throughput.ts";

/** Summaries younger than this many heartbeats count as fresh for links and fingerprints. */
export const REPORT_FRESH_HEARTBEATS = 4;

export interface StatusBoardOptions {
  readonly region: string;
  readonly store: RegionStore;
  /** The mesh node, when the region runs in a topology. */
  readonly mesh?: MeshNode;
  /** Topic subscribers this instance holds now. Default: none. */
  readonly topicSubscribers?: () => number;
  /** Wall clock in ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Tunables of the stream (tests); default feed.ts's constants. */
  readonly feed?: Omit<StatusFeedOptions<StatusDocument>, "snapshot" | "changeKey">;
}

/** A delta as the board needs it: its signed time. */
export interface TimedDelta {
  readonly ts: number;
}

export class StatusBoard {
  readonly #o: StatusBoardOptions;
  readonly #now: () => number;
  readonly #lag = new LagReservoir();
  readonly #throughput = new ThroughputMeter();
  readonly #coordination: CoordinationCounter;
  readonly #zones: StatusFigures["zones"];
  readonly #reportFreshMs: number;
  /** The snapshots of `/v1/status/stream`. */
  readonly feed: StatusFeed<StatusDocument>;

  constructor(options: StatusBoardOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    const mesh = options.mesh;
    this.#zones = mesh === undefined ? [] : [...mesh.topology.zones].map(([id, regions]) => ({
      id,
      regions: regions.map((r) => r.id),
    }));
    this.#reportFreshMs = mesh === undefined
      ? SUMMARY_FRESH_MS_DEFAULT
      : Math.max(SUMMARY_FRESH_MS_DEFAULT, REPORT_FRESH_HEARTBEATS * mesh.heartbeatMs);
    this.feed = new StatusFeed({ ...options.feed, snapshot: () => this.document(), changeKey });
    this.#coordination = new CoordinationCounter({
      store: options.store,
      topicSubscribers: options.topicSubscribers ?? (() => 0),
      statusStreams: () => this.feed.size,
    });
  }

  /**
   * Notes deltas this instance just stored: pushed by agents here (`source` null), or relayed or
   * repaired from peer region `source` (their propagation lag is recorded here; the
   * `mesh.propagation.lag` histogram is recorded where peers' deltas are received). Never throws.
   */
  noteStored(deltas: readonly TimedDelta[], source: string | null): void {
    const now = this.#now();
    this.#throughput.add(source === null ? "agents" : "peers", deltas.length, now);
    if (source === null) return;
    for (const delta of deltas) this.#lag.record(source, delta.ts, now);
  }

  /** The status document now; throws `StoreUnavailableError` when the store does not answer. */
  async document(): Promise<StatusDocument> {
    const { mesh, store, region } = this.#o;
    if (mesh === undefined) await store.ping();
    const base = mesh === undefined ? null : await mesh.status();
    const nowMs = this.#now();
    const figures: StatusFigures = {
      nowMs,
      store: store.kind,
      zones: this.#zones,
      reportFreshMs: this.#reportFreshMs,
      lag: (peer) => this.#lag.figures(peer, nowMs),
      throughput: this.#throughput.figures(nowMs),
      coordination: await this.#coordination.figures(nowMs),
    };
    return base === null
      ? standaloneStatusDocument(region, figures)
      : meshStatusDocument(base, figures);
  }

  /** Ends every status stream (before a server shutdown: open streams never end by themselves). */
  close(): void {
    this.feed.close();
  }
}
