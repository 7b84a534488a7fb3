/**
 * What an operator reads about one peer region: `up`, `suspect`, `down` or `not monitored`.
 *
 * phi means something only for a peer this instance heartbeats now (an exchange target, and only
 * on the leader instance, which alone runs the heartbeat job). A peer that is not a target — a
 * region of another zone when this region does not lead its own, say — still has a detector, but
 * its last heartbeat may be minutes old, so its phi only grows (thousands) however healthy the
 * peer is. Such a peer is `not monitored`: whether it is reachable is then what the partition view
 * says through peers' summaries, not a suspicion level.
 *
 * Pure: the reading is passed in.
 */
import { PHI_THRESHOLD_DEFAULT } from "./phi_accrual.ts";

/**
 * phi from which a monitored peer is `suspect` rather than `up`: a 10% chance that its heartbeat
 * is merely late. With 250 ms heartbeats that is about 560 ms of silence — more than one lost
 * heartbeat (phi ≈ 0.3 at 500 ms), well before the 8 (≈ 760 ms) at which it counts as down.
 */
export const HEALTH_SUSPECT_PHI = 1;

if (!(HEALTH_SUSPECT_PHI > 0 && HEALTH_SUSPECT_PHI < PHI_THRESHOLD_DEFAULT)) {
  throw new Error("HEALTH_SUSPECT_PHI must lie strictly between 0 and PHI_THRESHOLD_DEFAULT");
}

/** One peer's health as this instance sees it. */
export type PeerHealth = "up" | "suspect" | "down" | "not monitored";

/** Every health state, from best to worst (not monitored last: it is no verdict). */
export const PEER_HEALTH_STATES: readonly PeerHealth[] = ["up", "suspect", "down", "not monitored"];

/** What this instance's own detector knows of a peer. */
export interface HealthReading {
  /** This instance heartbeats the peer now (leader instance, and the peer is a target). */
  readonly monitored: boolean;
  /** The detector's phi; null or Infinity when never heard. */
  readonly phi: number | null;
  /** Last answered heartbeat, in ms; null when never heard. */
  readonly lastSeenMs: number | null;
}

/**
 * The health of a peer: `not monitored` when this instance does not heartbeat it; else `down`
 * when never heard or phi ≥ `threshold`, `suspect` when phi ≥ {@linkcode HEALTH_SUSPECT_PHI},
 * `up` below. A phi that is not a number counts as down (the safe side).
 */
export function peerHealth(
  reading: HealthReading,
  threshold: number = PHI_THRESHOLD_DEFAULT,
): PeerHealth {
  if (!reading.monitored) return "not monitored";
  const phi = reading.phi;
  if (reading.lastSeenMs === null || phi === null || !(phi < threshold)) return "down";
  return phi >= Math.min(HEALTH_SUSPECT_PHI, threshold) ? "suspect" : "up";
}
