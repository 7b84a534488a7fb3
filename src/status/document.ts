/**
 * The status document (`GET /v1/status`, and each snapshot of `/v1/status/stream`): the mesh's
 * own status (or the standalone region's) with what an operator reads besides — the map's zones
 * and links, whether fingerprints agree, propagation lag per peer, throughput and the
 * coordination figures. Every member the document had before stays as it was.
 *
 * Pure: values in, values out (docs/protocol.md §12.6 describes every member).
 */
import type { PeerHealth } from "../mesh/peer_health.ts";
import type { LagFigures } from "./lag_reservoir.ts";
import { type StatusLink, statusLinks } from "./links.ts";
import type { ThroughputFigures } from "./throughput.ts";

/** A peer row of the mesh's status, as far as this module reads it. */
export interface BasePeerRow {
  readonly id: string;
  readonly zone: string;
  readonly health: PeerHealth;
  readonly reachable: boolean;
  readonly summaryAgeMs: number | null;
  readonly fingerprint: string | null;
  readonly reaches: readonly string[] | null;
}

/** The mesh's status (`MeshNode.status()`), as far as this module reads it. */
export interface MeshStatusBase {
  readonly region: string;
  readonly zone: string;
  readonly partition: string;
  readonly reachable: readonly string[];
  readonly fingerprint: string;
  readonly leader: { readonly holder: string; readonly epoch: number } | null;
  readonly peers: readonly BasePeerRow[];
}

/** The registry, topics and streams this instance serves (coordination.ts). */
export interface Coordination {
  /** Agents with a card in the registry, counted up to a bound (`agentsMore`: more exist). */
  readonly agents: number;
  readonly agentsMore: boolean;
  /** Topics with a stored message, counted up to a bound (`topicsMore`: more exist). */
  readonly topics: number;
  readonly topicsMore: boolean;
  /** Topic subscribers (SSE streams and waiting long-polls) this instance holds. */
  readonly topicSubscribers: number;
  /** Status streams (`/v1/status/stream`) this instance holds. */
  readonly statusStreams: number;
}

/** What the region adds to the mesh's status at one moment. */
export interface StatusFigures {
  readonly nowMs: number;
  readonly store: string;
  /** The topology's zones, each with its regions, in topology order ([] when standalone). */
  readonly zones: readonly { readonly id: string; readonly regions: readonly string[] }[];
  /** Age below which a peer's summary is read for links and fingerprints, in ms. */
  readonly reportFreshMs: number;
  readonly lag: (peer: string) => LagFigures | null;
  readonly throughput: ThroughputFigures;
  readonly coordination: Coordination;
}

/** Whether the region's delta set equals its peers' (as their fresh summaries say). */
export interface FingerprintAgreement {
  /** True when every peer with a fresh summary agrees; null when no peer has one. */
  readonly agree: boolean | null;
  readonly differing: string[];
  /** Peers without a fresh summary (not compared). */
  readonly unknown: string[];
}

/** What the document adds to each of the mesh's peer rows. */
export interface PeerFigures {
  /** Its fresh summary's fingerprint equals this region's; null when not fresh or none. */
  readonly fingerprintAgrees: boolean | null;
  /** Propagation lag of the deltas that arrived from it (lag_reservoir.ts); null when none. */
  readonly lag: LagFigures | null;
}

/** The document of a region in a mesh: the mesh's status (`Base`) with the figures. */
export type MeshStatusDocument<Base extends MeshStatusBase = MeshStatusBase> =
  & Omit<Base, "peers">
  & {
    readonly store: string;
    readonly generatedAtMs: number;
    readonly peers: (Base["peers"][number] & PeerFigures)[];
    readonly zones: StatusFigures["zones"];
    readonly links: StatusLink[];
    readonly fingerprints: FingerprintAgreement;
    readonly throughput: ThroughputFigures;
    readonly coordination: Coordination;
  };

/** The document of a region in a mesh. */
export function meshStatusDocument<Base extends MeshStatusBase>(
  base: Base,
  f: StatusFigures,
): MeshStatusDocument<Base> {
  const fresh = (p: BasePeerRow) => p.summaryAgeMs !== null && p.summaryAgeMs < f.reportFreshMs;
  const agrees = (p: BasePeerRow) =>
    fresh(p) && p.fingerprint !== null ? p.fingerprint === base.fingerprint : null;
  const compared = base.peers.filter((p) => agrees(p) !== null);
  const fingerprints: FingerprintAgreement = {
    agree: compared.length === 0 ? null : compared.every((p) => agrees(p)),
    differing: compared.filter((p) => !agrees(p)).map((p) => p.id),
    unknown: base.peers.filter((p) => agrees(p) === null).map((p) => p.id),
  };
  const order = f.zones.flatMap((z) => z.regions);
  return {
    ...base,
    store: f.store,
    generatedAtMs: f.nowMs,
    peers: base.peers.map((p) => ({ ...p, fingerprintAgrees: agrees(p), lag: f.lag(p.id) })),
    zones: f.zones,
    links: statusLinks(order, base.region, base.peers, f.reportFreshMs),
    fingerprints,
    throughput: f.throughput,
    coordination: f.coordination,
  };
}

/** The document of a standalone region: `{region, store, mesh: null}` and the figures. */
export function standaloneStatusDocument(region: string, f: StatusFigures) {
  return {
    region,
    store: f.store,
    mesh: null,
    generatedAtMs: f.nowMs,
    zones: [] as StatusFigures["zones"],
    peers: [],
    links: [] as StatusLink[],
    fingerprints: { agree: null, differing: [], unknown: [] } as FingerprintAgreement,
    throughput: f.throughput,
    coordination: f.coordination,
  };
}

export type StatusDocument = MeshStatusDocument | ReturnType<typeof standaloneStatusDocument>;

/**
 * What a status stream sends a snapshot at once for when it changes (between the periodic ones):
 * partition state, leader, each peer's health and reachability, each link's state, agreement.
 * Figures that move all the time (phi, ages, counts, rates) are left out.
 */
export function changeKey(doc: StatusDocument): string {
  const mesh = "partition" in doc ? doc : null;
  return JSON.stringify([
    mesh?.partition ?? null,
    mesh?.reachable ?? null,
    mesh?.leader === null || mesh === null ? null : [mesh.leader.holder, mesh.leader.epoch],
    mesh?.peers.map((p) => [p.id, p.health, p.reachable, p.fingerprintAgrees]) ?? null,
    doc.links.map((l) => l.state),
    doc.fingerprints.agree,
  ]);
}
