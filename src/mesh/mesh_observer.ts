/**
 * What one mesh instance tells its operators: leadership gained and lost, peers up and down and
 * partition state changes (each a log event, a moment span and a counter or gauges), and the
 * gauges and counters of each heartbeat round, fan-out drain and anti-entropy session.
 *
 * Only the leader runs the detectors, and only for its exchange targets (a peer it does not
 * heartbeat has a phi that only grows): so peers are judged only while leading, and only targets.
 * Losing the lease forgets what was seen; the next term starts from "unknown", and its first
 * view reports the peers it finds up and the partition state it finds.
 */
import type { Span } from "@opentelemetry/api";
import type { PeerState } from "./_peer_state.ts";
import type { LeaderLease } from "./leader_lease.ts";
import type { PartitionState, PartitionView } from "./partition.ts";
import type { RegionInfo } from "./topology.ts";
import { log as rootLog, type Logger, names, type Telemetry } from "../telemetry/mod.ts";

/** A session's outcome, as `RegionIndex.reconcileWith` reports it. */
interface SessionNumbers {
  readonly rounds: number;
  readonly bytes: number;
  readonly pulled: number;
  readonly pushed: number;
}

export class MeshObserver {
  readonly #telemetry: Telemetry;
  readonly #log: Logger;
  readonly #base: Record<string, string>;
  /** Targets counted up at the last view (null: nothing seen this term). */
  #up: Set<string> | null = null;
  #state: PartitionState | null = null;
  /** The epoch this instance led under at the last lease tick (0: not leading). */
  #epoch = 0;

  constructor(region: string, instance: string, telemetry: Telemetry, log: Logger = rootLog) {
    this.#telemetry = telemetry;
    this.#log = log.with({ region, instance });
    this.#base = { [names.ATTR_REGION]: region };
  }

  /**
   * After a lease tick. Compared with the last tick's epoch, not the lease's just before this
   * one: a lease that lapsed between ticks (a slow store) already reads as not leading.
   */
  lease(lease: LeaderLease): void {
    const before = this.#epoch, after = lease.epoch;
    this.#epoch = after;
    this.#telemetry.leaseEpoch.record(after, this.#base);
    if (after === before) return;
    if (before > 0) {
      this.#up = null;
      this.#state = null;
      this.#change("lost", before);
      this.#log.warn(names.EVENT_LEADER_LOST, {
        epoch: before,
        holder: lease.lease?.holder ?? null,
      });
    }
    if (after > 0) {
      this.#change("gained", after);
      this.#log.info(names.EVENT_LEADER_GAINED, { epoch: after });
    }
  }

  #change(change: "gained" | "lost", epoch: number): void {
    this.#telemetry.leaderChanges.add(1, { ...this.#base, [names.ATTR_LEADER_CHANGE]: change });
    this.#telemetry.mark(names.SPAN_LEADER_CHANGE, {
      ...this.#base,
      [names.ATTR_LEADER_CHANGE]: change,
      [names.ATTR_LEADER_EPOCH]: epoch,
    });
  }

  /**
   * After a heartbeat round (leader only): the partition view, the exchange targets and what this
   * instance knows of each peer. Records the gauges, and logs what changed since the last round.
   */
  view(
    view: PartitionView,
    targets: readonly RegionInfo[],
    peers: ReadonlyMap<string, PeerState>,
    nowMs: number,
  ): void {
    const minority = view.state === "minority" ? 1 : 0;
    this.#telemetry.partitionMinority.record(minority, this.#base);
    this.#telemetry.partitionRegions.record(view.reachable.size, this.#base);
    const up = new Set<string>();
    for (const peer of targets) {
      const { detector } = peers.get(peer.id)!;
      const attrs = { ...this.#base, [names.ATTR_PEER]: peer.id };
      const phiNow = detector.phi(nowMs);
      if (Number.isFinite(phiNow)) this.#telemetry.peerPhi.record(phiNow, attrs);
      const phi = Number.isFinite(phiNow) ? Number(phiNow.toFixed(3)) : null;
      if (view.direct.has(peer.id)) {
        up.add(peer.id);
        if (!this.#up?.has(peer.id)) this.#log.info(names.EVENT_PEER_UP, { peer: peer.id, phi });
      } else if (this.#up?.has(peer.id)) {
        this.#log.warn(names.EVENT_PEER_DOWN, {
          peer: peer.id,
          phi,
          last_seen_ago_ms: detector.lastSeenMs === null ? null : nowMs - detector.lastSeenMs,
        });
      }
    }
    this.#up = up;
    if (view.state === this.#state) return;
    const previous = this.#state ?? "unknown";
    this.#state = view.state;
    this.#telemetry.mark(names.SPAN_PARTITION_CHANGE, {
      ...this.#base,
      [names.ATTR_PARTITION]: view.state,
      [names.ATTR_PARTITION_PREVIOUS]: previous,
      [names.ATTR_PARTITION_REACHABLE]: view.reachable.size,
    });
    const fields = { state: view.state, previous, reachable: [...view.reachable].sort() };
    if (view.state === "minority") this.#log.warn(names.EVENT_PARTITION_CHANGED, fields);
    else this.#log.info(names.EVENT_PARTITION_CHANGED, fields);
  }

  /** After a fan-out drain to `peer`: deltas sent, and the outbox left behind. */
  drained(span: Span, peer: string, sent: number, behind: number): void {
    span.setAttributes({ [names.ATTR_FANOUT_SENT]: sent, [names.ATTR_FANOUT_BEHIND]: behind });
    const attrs = { ...this.#base, [names.ATTR_PEER]: peer };
    this.#telemetry.fanOutDeltas.add(sent, attrs);
    this.#telemetry.outboxDepth.record(behind, attrs);
  }

  /** After an anti-entropy session with `peer`; `penalty` when it was abandoned for one. */
  session(span: Span, peer: string, result: SessionNumbers, penalty: string | null): void {
    const attrs = { ...this.#base, [names.ATTR_PEER]: peer };
    span.setAttributes({
      [names.ATTR_SYNC_ROUNDS]: result.rounds,
      [names.ATTR_SYNC_BYTES]: result.bytes,
    });
    this.#telemetry.syncRounds.add(result.rounds, attrs);
    this.#telemetry.syncBytes.add(result.bytes, attrs);
    const pull = { ...attrs, [names.ATTR_SYNC_DIRECTION]: "pull" };
    this.#telemetry.syncDeltas.add(result.pulled, pull);
    this.#telemetry.syncDeltas.add(result.pushed, {
      ...attrs,
      [names.ATTR_SYNC_DIRECTION]: "push",
    });
    if (penalty === null) return;
    span.setAttribute(names.ATTR_SYNC_PENALTY, penalty);
    this.#telemetry.syncPenalties.add(1, { ...attrs, [names.ATTR_SYNC_PENALTY]: penalty });
  }
}
