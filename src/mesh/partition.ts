/**
 * Partition state as one region sees it, computed from values only: its own failure detectors
 * (phi per directly monitored peer) and the latest summaries its peers sent (the regions each of
 * them reaches). A region that reaches fewer than a majority of the mesh is in a minority
 * partition and says so; it keeps retrying every peer for ever and never forgets one.
 *
 * Second-hand reachability ("B says it reaches C") is where gossip views go wrong: summaries are
 * transitive, and B and C that keep hearing each other would re-report a dead region D to each
 * other for ever (count-to-infinity: each believes D because the other does). So a claim about a
 * region R is accepted only from a peer with more *authority* about R than this region has, a
 * static rank that strictly decreases along every accepted claim — information about R flows
 * out from R and never in a circle, and a dead region drops out of every view within a few
 * heartbeats per hop:
 *
 * | who (about R)                     | authority      | accepts claims about R from          |
 * | --------------------------------- | -------------- | ------------------------------------ |
 * | R itself                          | 0              | —                                    |
 * | a region of R's zone              | 1              | nobody: only its own detector counts |
 * | a region of another zone, index i | 2 + i          | R's zone, and regions before it      |
 *
 * (i is the region's position in topology order.) This fits the hierarchy: zone peers monitor
 * each other directly; a zone leader (the first reachable region of its zone) hears other zones
 * from their own regions; the regions after it in its zone hear other zones from it. In odd
 * asymmetric partitions a region may undercount (claim minority when a relay would reach more),
 * never overcount.
 */
import { z } from "zod";
import { PHI_THRESHOLD_DEFAULT } from "./phi_accrual.ts";
import type { RegionInfo, Topology } from "./topology.ts";

/**
 * Default age from which a peer's summary is ignored (it counts while younger), in ms: four
 * heartbeats at 250 ms, a
 * little over the ~760 ms a silent peer needs to be suspected, so the summary of a peer still
 * counted as alive is not dropped between heartbeats.
 */
export const SUMMARY_FRESH_MS_DEFAULT = 1_000;
/** Longest freshness bound an option may name, in ms (one hour). */
export const SUMMARY_FRESH_MS_MAX = 3_600_000;

export const partitionOptionsSchema = z.strictObject({
  /** phi at or above which a directly monitored peer counts as unreachable. Default 8. */
  threshold: z.number().positive().default(PHI_THRESHOLD_DEFAULT),
  /** Age in ms from which a peer's summary is ignored (it counts while younger). Default 1000. */
  summaryFreshMs: z.number().positive().max(SUMMARY_FRESH_MS_MAX).default(
    SUMMARY_FRESH_MS_DEFAULT,
  ),
});

/** Partition options with defaults applied; build with {@linkcode partitionOptions}. */
export type PartitionOptions = Readonly<z.output<typeof partitionOptionsSchema>>;

/** Validates partition options once (the view is computed many times a second). */
export function partitionOptions(input: z.input<typeof partitionOptionsSchema> = {}) {
  const parsed = partitionOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TypeError(
      `Cannot use partition options as ${
        issue.path.join(".") || "options"
      } is invalid: ${issue.message}`,
    );
  }
  return Object.freeze(parsed.data) as PartitionOptions;
}

export const PARTITION_OPTIONS_DEFAULT: PartitionOptions = partitionOptions();

/** What this region's own detector says about one peer. */
export interface DirectObservation {
  readonly phi: number;
  /** Last heartbeat from the peer, in ms; null when never heard (never counts as reachable). */
  readonly lastSeenMs: number | null;
}

/** The latest summary a peer sent, as far as partition state needs it. */
export interface PeerSummary {
  /** When it arrived, on this region's clock, in ms. */
  readonly receivedAtMs: number;
  /** The sender's leader epoch (not used for reachability; fencing is checked on receipt). */
  readonly epoch: number;
  /** The regions the sender reaches, directly or via its summaries (itself included). */
  readonly reachable: readonly string[];
}

export type PartitionState = "majority" | "minority";

/** One region's line in the status page. */
export interface RegionStatusRow {
  readonly id: string;
  readonly zone: string;
  /** Reached by this region's own detector (true for this region itself). */
  readonly direct: boolean;
  /** This region's phi for it; null for itself and for peers never heard from. */
  readonly phi: number | null;
  readonly lastSeenMs: number | null;
  /** Counted as reachable, directly or through summaries. */
  readonly reachable: boolean;
}

export interface PartitionView {
  /** Regions reached directly or through fresh summaries, this region included. */
  readonly reachable: Set<string>;
  /** Regions reached by this region's own detectors, this region included. */
  readonly direct: Set<string>;
  /** Minority iff `reachable.size < topology.majority`. */
  readonly state: PartitionState;
  /** Every region of the topology, in topology order. */
  readonly rows: RegionStatusRow[];
}

const ORDER = new WeakMap<Topology, ReadonlyMap<string, number>>();

function orderOf(topology: Topology): ReadonlyMap<string, number> {
  let order = ORDER.get(topology);
  if (order === undefined) {
    order = new Map(topology.regions.map((r, i) => [r.id, i]));
    ORDER.set(topology, order);
  }
  return order;
}

/** How close `x` is to first-hand knowledge of `r` (lower is closer); see the module doc. */
function authority(order: ReadonlyMap<string, number>, x: RegionInfo, r: RegionInfo): number {
  if (x.id === r.id) return 0;
  if (x.zone === r.zone) return 1;
  return 2 + order.get(x.id)!;
}

function regionOf(topology: Topology, id: string): RegionInfo {
  const region = topology.region(id);
  if (region === undefined) throw new Error(`Region "${id}" is not in the topology`);
  return region;
}

/**
 * The partition view of region `self` at `nowMs`. `direct` holds this region's detector readings
 * per monitored peer; `summaries` the latest summary per peer. Reachable: `self`; each peer heard
 * at least once with phi below the threshold; then, to a fixed point, each region a reachable
 * peer with a fresh summary reports, when that peer has more authority about it than `self`.
 * Ids not in the topology are ignored. Throws when `self` is not in the topology (a bug).
 */
export function partitionView(
  topology: Topology,
  self: string,
  nowMs: number,
  direct: ReadonlyMap<string, DirectObservation>,
  summaries: ReadonlyMap<string, PeerSummary>,
  options: PartitionOptions = PARTITION_OPTIONS_DEFAULT,
): PartitionView {
  const me = regionOf(topology, self);
  const order = orderOf(topology);
  const heard = new Set([self]);
  for (const region of topology.regions) {
    const seen = direct.get(region.id);
    if (region.id === self || seen === undefined || seen.lastSeenMs === null) continue;
    if (seen.phi < options.threshold) heard.add(region.id);
  }
  const reachable = new Set(heard);
  // Breadth-first over reporters: each region's summary is read once, so this is linear in the
  // total length of the summaries however the claims chain.
  const queue = [...heard];
  for (let i = 0; i < queue.length; i++) {
    const reporter = queue[i];
    const summary = summaries.get(reporter);
    if (reporter === self || summary === undefined) continue;
    if (nowMs - summary.receivedAtMs >= options.summaryFreshMs) continue;
    const from = regionOf(topology, reporter);
    for (const id of summary.reachable) {
      const region = topology.region(id);
      if (region === undefined || reachable.has(id)) continue;
      if (authority(order, from, region) >= authority(order, me, region)) continue;
      reachable.add(id);
      queue.push(id);
    }
  }
  return {
    reachable,
    direct: heard,
    state: reachable.size < topology.majority ? "minority" : "majority",
    rows: topology.regions.map((region) => statusRow(region, self, direct, heard, reachable)),
  };
}

function statusRow(
  region: RegionInfo,
  self: string,
  direct: ReadonlyMap<string, DirectObservation>,
  heard: ReadonlySet<string>,
  reachable: ReadonlySet<string>,
): RegionStatusRow {
  const seen = region.id === self ? undefined : direct.get(region.id);
  const lastSeenMs = seen?.lastSeenMs ?? null;
  // A peer never heard has phi Infinity, which JSON cannot carry: report null.
  const phi = lastSeenMs === null || !Number.isFinite(seen!.phi) ? null : seen!.phi;
  return {
    id: region.id,
    zone: region.zone,
    direct: heard.has(region.id),
    phi,
    lastSeenMs,
    reachable: reachable.has(region.id),
  };
}

/**
 * The leader of each zone as seen from here: the first region of the zone, in topology order,
 * that is in `reachable` (pass a view that contains the caller itself, so its own zone always
 * has one); null for a zone with no reachable region. Regions may briefly disagree — during a
 * partition, or while detectors catch up after a heal, two regions of a zone may each act as
 * leader, or none may reach a given zone. That costs duplicate or missed fan-out, which
 * anti-entropy repairs; it never loses a delta.
 */
export function zoneLeaders(
  topology: Topology,
  reachable: ReadonlySet<string>,
): Map<string, string | null> {
  const leaders = new Map<string, string | null>();
  for (const [zone, regions] of topology.zones) {
    leaders.set(zone, regions.find((r) => reachable.has(r.id))?.id ?? null);
  }
  return leaders;
}

/**
 * The regions `self` sends heartbeats, summaries and fan-out to, in topology order:
 *
 * - every other region of its own zone, reachable or not — healing is retried for ever;
 * - if `self` leads its zone (no region before it in its zone is reachable), for each other
 *   zone the regions in topology order up to and including the first one `self` reaches
 *   directly; all of the zone when it reaches none. So the zone's first region (its leader when
 *   healthy) is always retried, and a zone whose first region died — or is cut off from here
 *   only — is still reached through the next one, which then leads that zone in its own view
 *   (or, when it still sees the first region alive, at least takes our heartbeats and fan-out;
 *   anti-entropy carries the rest).
 *
 * `direct` should be the view's `direct` set: ending a remote zone's prefix at a region reached
 * only through summaries would stop heartbeats to the very peer whose summary vouches for it,
 * and the targets would flap. It defaults to `reachable` (same result when the two agree).
 */
export function exchangeTargets(
  topology: Topology,
  self: string,
  reachable: ReadonlySet<string>,
  direct: ReadonlySet<string> = reachable,
): RegionInfo[] {
  const me = regionOf(topology, self);
  const targets = topology.zonePeers(self);
  const ownZone = topology.zones.get(me.zone)!;
  const leader = ownZone.find((r) => r.id === self || reachable.has(r.id))!;
  if (leader.id !== self) return targets;
  for (const [zone, regions] of topology.zones) {
    if (zone === me.zone) continue;
    for (const region of regions) {
      targets.push(region);
      if (direct.has(region.id)) break;
    }
  }
  return targets;
}
