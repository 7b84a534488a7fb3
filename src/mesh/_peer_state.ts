/** What one mesh instance tracks about each peer region: detection, fan-out, anti-entropy. */
import type { Summary } from "./peer_inbox.ts";
import { peerHealth } from "./peer_health.ts";
import {
  PHI_ACCEPTABLE_PAUSE_MS_DEFAULT,
  PHI_EXPECTED_INTERVAL_MS_DEFAULT,
  PHI_MIN_STD_DEVIATION_MS_DEFAULT,
  PHI_OPTION_MS_MAX,
  PhiAccrualDetector,
} from "./phi_accrual.ts";
import { partitionView } from "./partition.ts";
import type { Topology } from "./topology.ts";

/**
 * First back-off from anti-entropy with a peer that broke a session bound or the sync protocol,
 * in ms; it doubles with each further offence, up to SYNC_PENALTY_MS_MAX, and a clean session
 * resets it. The peer is always tried again afterwards (peers are healed for ever).
 */
export const SYNC_PENALTY_MS_MIN = 30_000;
/** Longest back-off from anti-entropy with a misbehaving peer, in ms. */
export const SYNC_PENALTY_MS_MAX = 600_000;

/** Heartbeat periods per floor of the detector's deviation (its defaults: 250 ms, 50 ms). */
const PHI_SD_PER_PERIOD = PHI_EXPECTED_INTERVAL_MS_DEFAULT / PHI_MIN_STD_DEVIATION_MS_DEFAULT;
if (PHI_ACCEPTABLE_PAUSE_MS_DEFAULT !== PHI_EXPECTED_INTERVAL_MS_DEFAULT) {
  throw new Error("a detector's pause is one heartbeat period: the defaults must agree");
}

/** One channel's eager forwards in flight to a target. */
export interface ChannelInFlight {
  /** The label they were sent with (a delta is only ever carried under its own). */
  readonly label: string;
  /** Its deltas sent and not yet acknowledged, by id, in the order they were sent. */
  readonly deltas: Map<string, { readonly body: string; readonly sig: string }>;
  /** Messages in flight that carry some of the channel's deltas. */
  messages: number;
}

export interface PeerState {
  readonly detector: PhiAccrualDetector;
  summary: (Summary & { receivedAtMs: number }) | null;
  failures: number;
  nextFanOutMs: number;
  behind: number;
  /** Log position (per shard) this target acknowledged, as last seen here (null: look it up). */
  acked: number[] | null;
  /** A drain to this target is running (a kick and a tick must not drain it twice at once). */
  draining: boolean;
  /** New entries arrived while draining: drain again right after. */
  again: boolean;
  /** Eager forwards to this target in flight (eager_forward.ts); 0 when none. */
  forwarding: number;
  /** Channels of the eager forwards in flight to this target (eager_forward.ts). */
  readonly forwardingChannels: Map<string, ChannelInFlight>;
  /** A delta skipped eager forwarding to this target: forward no more until a drain caught up. */
  unsent: boolean;
  /** Ids this target acknowledged by eager forwarding, for its drain to skip (bounded). */
  readonly forwarded: Set<string>;
  /** When anti-entropy last ran with this peer (it defers to fan-out, but not for ever). */
  lastAntiEntropyMs: number;
  /** Sessions this peer broke a bound in, in a row (sets the back-off), and in all. */
  syncStrikes: number;
  syncPenalties: number;
  /** Anti-entropy skips this peer until then. */
  syncPenaltyUntilMs: number;
}

/**
 * A peer not heard from yet, whose heartbeats are expected every `heartbeatMs`. The detector's
 * tolerances scale with the period — a pause of one period, a deviation of at least a fifth of
 * one — which are its defaults at the default 250 ms, and keep a peer heard once a minute (jobs
 * on a one-minute cron, issue 13) from reading as down between two rounds.
 */
export function newPeerState(heartbeatMs: number): PeerState {
  return {
    detector: new PhiAccrualDetector({
      expectedIntervalMs: heartbeatMs,
      acceptableHeartbeatPauseMs: Math.min(heartbeatMs, PHI_OPTION_MS_MAX),
      minStdDeviationMs: heartbeatMs / PHI_SD_PER_PERIOD,
    }),
    summary: null,
    failures: 0,
    nextFanOutMs: 0,
    behind: 0,
    acked: null,
    draining: false,
    again: false,
    forwarding: 0,
    forwardingChannels: new Map(),
    unsent: false,
    forwarded: new Set(),
    lastAntiEntropyMs: 0,
    syncStrikes: 0,
    syncPenalties: 0,
    syncPenaltyUntilMs: 0,
  };
}

/**
 * Backs off from a peer whose anti-entropy session broke a bound (doubling), or forgives a clean
 * one; true when `penalty` was given (the caller counts it).
 */
export function judgeSession(
  peer: PeerState,
  ok: boolean,
  penalty: string | undefined,
  nowMs: number,
): boolean {
  if (penalty === undefined) {
    if (ok) peer.syncStrikes = 0;
    return false;
  }
  peer.syncStrikes++;
  peer.syncPenalties++;
  const backoff = SYNC_PENALTY_MS_MIN * 2 ** Math.min(peer.syncStrikes - 1, 10);
  peer.syncPenaltyUntilMs = nowMs + Math.min(SYNC_PENALTY_MS_MAX, backoff);
  return true;
}

/**
 * One peer's row of `GET /v1/status`: the partition view's row and what this instance knows.
 * `monitored`: this instance heartbeats the peer now (see peer_health.ts); phi is shown only then.
 */
export function peerStatus<
  Row extends { readonly lastSeenMs: number | null; readonly phi: number | null },
>(
  row: Row,
  peer: PeerState,
  target: boolean,
  monitored: boolean,
  outboxDepth: number | null,
  nowMs: number,
) {
  return {
    ...row,
    // A detector this instance does not feed only grows: its phi would read as "dead".
    phi: monitored ? row.phi : null,
    health: peerHealth({ monitored, phi: row.phi, lastSeenMs: row.lastSeenMs }),
    lastSeenAgoMs: row.lastSeenMs === null ? null : nowMs - row.lastSeenMs,
    /** Whether this region exchanges with it directly (heartbeats, fan-out, sync). */
    target,
    outboxDepth,
    fanOutFailures: peer.failures,
    /** Anti-entropy sessions abandoned for breaking a bound, and the back-off left. */
    syncPenalties: peer.syncPenalties,
    syncPenaltyMs: Math.max(0, peer.syncPenaltyUntilMs - nowMs),
    summaryAgeMs: peer.summary === null ? null : nowMs - peer.summary.receivedAtMs,
    epoch: peer.summary?.epoch ?? null,
    fingerprint: peer.summary?.fingerprint ?? null,
    deltas: peer.summary?.deltas ?? null,
    /** The regions its last summary said it reaches (null before any summary). */
    reaches: peer.summary?.reachable ?? null,
  };
}

/** What {@linkcode peerRows} needs besides the partition view's rows. */
export interface PeerRowSources {
  readonly peers: ReadonlyMap<string, PeerState>;
  /** This region's exchange targets now. */
  readonly targets: ReadonlySet<string>;
  /** This instance runs the heartbeat job (it is the region's leader). */
  readonly monitoring: boolean;
  /** How many region-log entries a target acknowledged (its fan-out cursors, summed). */
  readonly acked: (peer: string) => Promise<number>;
  readonly logHead: number;
  readonly nowMs: number;
}

/** The peer rows of `GET /v1/status`: every row but `self`'s, in topology order. */
export function peerRows<
  Row extends {
    readonly id: string;
    readonly lastSeenMs: number | null;
    readonly phi: number | null;
  },
>(rows: readonly Row[], self: string, o: PeerRowSources) {
  return Promise.all(
    rows.filter((r) => r.id !== self).map(async (row) => {
      const target = o.targets.has(row.id);
      const outboxDepth = target ? Math.max(0, o.logHead - await o.acked(row.id)) : null;
      // Only the leader instance heartbeats, and only its targets: phi means nothing elsewhere.
      const monitored = target && o.monitoring;
      return peerStatus(row, o.peers.get(row.id)!, target, monitored, outboxDepth, o.nowMs);
    }),
  );
}

/** The partition view of region `self` at `nowMs` from what this instance knows of its peers. */
export function partitionOf(
  topology: Topology,
  self: string,
  peers: ReadonlyMap<string, PeerState>,
  nowMs: number,
) {
  const direct = new Map(
    [...peers].map((
      [id, p],
    ) => [id, { phi: p.detector.phi(nowMs), lastSeenMs: p.detector.lastSeenMs }]),
  );
  const summaries = new Map(
    [...peers].filter(([, p]) => p.summary !== null).map(([id, p]) => [id, {
      receivedAtMs: p.summary!.receivedAtMs,
      epoch: p.summary!.epoch,
      reachable: p.summary!.reachable,
    }]),
  );
  return partitionView(topology, self, nowMs, direct, summaries);
}
