/**
 * The links of the status map, as one region sees them: every pair of regions of the topology,
 * with a state and where that state comes from.
 *
 * - A link of this region's own (self — peer) is **measured**: the peer's health from this
 *   instance's detector (`up`, `suspect`, `down`), or `not monitored` when this region does not
 *   heartbeat that peer (the link is not in use; the peer may still be reachable through others).
 * - A link between two peers is **reported**: the fresher of the two peers' last summaries (when
 *   younger than `reportFreshMs`) says whether the one reaches the other — `up` or `down`. A
 *   summary lists the regions its sender reaches directly *or* through summaries, so a reported
 *   `up` means "reachable", not "heartbeated". With no fresh summary from either end: `unknown`.
 *
 * Pure: values in, values out.
 */
import type { PeerHealth } from "../mesh/peer_health.ts";

export type LinkState = PeerHealth | "unknown";

export interface StatusLink {
  /** The two regions, in topology order. */
  readonly a: string;
  readonly b: string;
  readonly state: LinkState;
  /** `measured` by this region, `reported` by a peer's summary, or `none` (no reading). */
  readonly basis: "measured" | "reported" | "none";
  /** The region whose detector or summary the state comes from; null when none. */
  readonly by: string | null;
}

/** A peer row as the links need it (a subset of `GET /v1/status`'s peer rows). */
export interface LinkPeer {
  readonly id: string;
  readonly health: PeerHealth;
  readonly summaryAgeMs: number | null;
  /** The regions its last summary said it reaches; null before any. */
  readonly reaches: readonly string[] | null;
}

interface Report {
  readonly by: string;
  readonly ageMs: number;
  readonly reaches: boolean;
}

function reportOf(from: LinkPeer | undefined, about: string, freshMs: number): Report | null {
  if (from === undefined || from.reaches === null || from.summaryAgeMs === null) return null;
  if (from.summaryAgeMs >= freshMs) return null; // younger than, as the partition view counts
  return { by: from.id, ageMs: from.summaryAgeMs, reaches: from.reaches.includes(about) };
}

/**
 * Every link between the regions of `order` (region ids in topology order, `self` among them),
 * in that order: (0,1), (0,2) … (1,2) …. Peers missing from `peers` read as `unknown`.
 */
export function statusLinks(
  order: readonly string[],
  self: string,
  peers: readonly LinkPeer[],
  reportFreshMs: number,
): StatusLink[] {
  const byId = new Map(peers.map((p) => [p.id, p]));
  const links: StatusLink[] = [];
  for (let i = 0; i < order.length; i++) {
    for (let j = i + 1; j < order.length; j++) {
      links.push(linkOf(order[i], order[j], self, byId, reportFreshMs));
    }
  }
  return links;
}

function linkOf(
  a: string,
  b: string,
  self: string,
  peers: ReadonlyMap<string, LinkPeer>,
  freshMs: number,
): StatusLink {
  if (a === self || b === self) {
    const peer = peers.get(a === self ? b : a);
    if (peer === undefined) return { a, b, state: "unknown", basis: "none", by: null };
    const basis = peer.health === "not monitored" ? "none" : "measured";
    return { a, b, state: peer.health, basis, by: basis === "none" ? null : self };
  }
  const reports = [reportOf(peers.get(a), b, freshMs), reportOf(peers.get(b), a, freshMs)]
    .filter((r) => r !== null).sort((x, y) => x.ageMs - y.ageMs);
  const freshest = reports[0];
  if (freshest === undefined) return { a, b, state: "unknown", basis: "none", by: null };
  return { a, b, state: freshest.reaches ? "up" : "down", basis: "reported", by: freshest.by };
}
