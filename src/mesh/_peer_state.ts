/** What one mesh instance tracks about each peer region: detection, fan-out, anti-entropy. */
import type { Summary } from "./peer_inbox.ts";
import { PhiAccrualDetector } from "./phi_accrual.ts";

export interface PeerState {
  readonly detector: PhiAccrualDetector;
  summary: (Summary & { receivedAtMs: number }) | null;
  failures: number;
  nextFanOutMs: number;
  behind: number;
  /** Log position this target acknowledged, as last seen here (-1: unknown, look it up). */
  acked: number;
  /** A drain to this target is running (a kick and a tick must not drain it twice at once). */
  draining: boolean;
  /** New entries arrived while draining: drain again right after. */
  again: boolean;
  /** When anti-entropy last ran with this peer (it defers to fan-out, but not for ever). */
  lastAntiEntropyMs: number;
  /** Sessions this peer broke a bound in, in a row (sets the back-off), and in all. */
  syncStrikes: number;
  syncPenalties: number;
  /** Anti-entropy skips this peer until then. */
  syncPenaltyUntilMs: number;
}

/** A peer not heard from yet, whose heartbeats are expected every `heartbeatMs`. */
export function newPeerState(heartbeatMs: number): PeerState {
  return {
    detector: new PhiAccrualDetector({ expectedIntervalMs: heartbeatMs }),
    summary: null,
    failures: 0,
    nextFanOutMs: 0,
    behind: 0,
    acked: -1,
    draining: false,
    again: false,
    lastAntiEntropyMs: 0,
    syncStrikes: 0,
    syncPenalties: 0,
    syncPenaltyUntilMs: 0,
  };
}
