/**
 * What one run of the scale simulation simulates: how many agents, regions and zones, how fast
 * agents write, the faults (loss, a partition, Byzantine agents) and the regions' capacity. The
 * topology is a real `Topology` (src/mesh/topology.ts), parsed from the same JSON a mesh reads.
 */
import { Topology } from "../../src/mesh/topology.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";

/** Zone names in topology order, and one-way latency between them in ms (rough public RTT / 2). */
export const ZONES = ["eu", "us", "ap", "sa"] as const;
const CROSS_ZONE_MS: Record<string, number> = {
  "eu-us": 40,
  "eu-ap": 80,
  "eu-sa": 95,
  "us-ap": 60,
  "us-sa": 65,
  "ap-sa": 150,
};
/** One-way latency inside a zone, ms: [min, max]. */
export const ZONE_LINK_MS: readonly [number, number] = [2, 10];
/** One-way latency between an agent and its home region, ms: [min, max]. */
export const AGENT_LINK_MS: readonly [number, number] = [5, 25];
/** Jitter on top of a cross-zone link's base latency, as a fraction of it: [0, max). */
export const CROSS_ZONE_JITTER = 0.2;

export interface ScenarioOptions {
  readonly seed: number;
  readonly agents: number;
  readonly regions: number;
  readonly zones: number;
  /** Agents' writes in the steady phase, mesh-wide, deltas per simulated second (Poisson). */
  readonly writesPerSecond: number;
  /** Chance that a packet is lost (TCP sends it again after its RTO: see network.ts). */
  readonly lossRate: number;
  /** Chance that a request fails outright (reset, 503): its sender tries again later. */
  readonly failRate: number;
  /** Cut the last zone off from the others for `partitionMs` after the steady phase. */
  readonly partition: boolean;
  readonly partitionMs: number;
  /** Share of agents that write one more delta while the partition lasts. */
  readonly partitionWriteShare: number;
  /** Agents that sign two different deltas with one seq and push them to two regions at once. */
  readonly equivocators: number;
  /** Agents that push deltas under another agent's name (bad signatures). */
  readonly forgers: number;
  /** New deltas one region verifies and stores per simulated second (0: unbounded). */
  readonly ingestPerSecond: number;
  /** Verify one envelope in this many with the real verifier (1: all; forgeries always). */
  readonly verifyEvery: number;
  /** Channels whose views every region folds and compares at the end (room-0 always). */
  readonly viewChannels: number;
  /**
   * `per-peer` (the code: src/mesh/heartbeats.ts): each target on its own schedule, at most one
   * heartbeat in flight per peer, so a slow peer holds up only itself; `together` (the code
   * before issue 14's fix): a region's heartbeat job sends to every target and waits for all
   * answers before its next tick.
   */
  readonly heartbeatJob: "together" | "per-peer";
  /**
   * true (the code: src/mesh/region_index.ts, `repairOrigin`): deltas anti-entropy brings are
   * logged as the peer would have relayed them (`zone` from a zone peer, `remote` from another
   * zone), so a zone leader passes them on; false (before the fix): logged `sync`, never fanned out.
   */
  readonly repairRelay: boolean;
  /**
   * `target-pages` (the code: src/mesh/fan_out.ts): a page holds up to 1,024 entries for the
   * target, scanning at most 4,096 log entries, two pages in flight; `log-pages` (before the
   * fix): a page is 1,024 log entries, the next sent once it was acknowledged.
   */
  readonly drain: "target-pages" | "log-pages";
  /** Simulated time after the last write within which the mesh must converge, ms. */
  readonly convergeMsMax: number;
}

/** Regions and zones per size, as the issue suggests: 3, 6, 12, 24 regions in 2–4 zones. */
export function meshSizeFor(agents: number): { regions: number; zones: number } {
  if (agents <= 100) return { regions: 3, zones: 2 };
  if (agents <= 10_000) return { regions: 6, zones: 3 };
  if (agents <= 200_000) return { regions: 12, zones: 3 };
  return { regions: 24, zones: 4 };
}

/** The defaults for `agents` agents, overridden by `overrides`. */
export function scenarioFor(
  agents: number,
  overrides: Partial<ScenarioOptions> = {},
): ScenarioOptions {
  const size = meshSizeFor(agents);
  return {
    seed: 1,
    agents,
    regions: size.regions,
    zones: size.zones,
    // A fifth of one region's ingest capacity, and below what a zone leader's drain to the
    // farthest zone (ap–sa, ~330 ms round trip) can carry: the steady phase measures
    // propagation, not overload (docs/simulation.md, "Saturation").
    writesPerSecond: Math.max(1, Math.min(agents / 10, 2_000)),
    lossRate: 0.01,
    failRate: 0.001,
    partition: true,
    partitionMs: 20_000,
    partitionWriteShare: 0.1,
    equivocators: Math.max(2, Math.min(100, Math.round(agents / 10_000))),
    forgers: Math.max(1, Math.min(100, Math.round(agents / 10_000))),
    ingestPerSecond: 10_000,
    // Every signature up to 200,000 agents; one in ten above (the rest are known good: signed
    // by their author's key in delta_pool.ts), to keep 1,000,000 agents within minutes.
    verifyEvery: agents > 200_000 ? 10 : 1,
    viewChannels: 4,
    heartbeatJob: "per-peer",
    repairRelay: true,
    drain: "target-pages",
    convergeMsMax: 600_000,
    ...overrides,
  };
}

export interface SimRegionInfo {
  readonly index: number;
  readonly id: string;
  readonly zone: string;
  readonly zoneIndex: number;
}

export interface Layout {
  readonly regions: readonly SimRegionInfo[];
  readonly zones: readonly string[];
  readonly topology: Topology;
  /** One-way base latency between two zones, ms (0 on the diagonal). */
  readonly zoneLatencyMs: readonly (readonly number[])[];
}

/**
 * `regions` regions dealt round-robin over the first `zones` zones (zone order = topology order),
 * named `<zone>-<n>`. Region keys are well-formed placeholders: the simulation does not sign
 * region messages (their size is accounted, see network.ts).
 */
export function layoutOf(regions: number, zones: number): Layout {
  if (zones < 1 || zones > ZONES.length || regions < zones) {
    throw new RangeError(`Cannot lay out ${regions} regions in ${zones} zones`);
  }
  const names = ZONES.slice(0, zones);
  const perZone = names.map(() => 0);
  const placed = Array.from({ length: regions }, (_, i) => {
    const z = i % zones;
    return { zone: names[z], zoneIndex: z, n: ++perZone[z] };
  }).sort((a, b) => a.zoneIndex - b.zoneIndex || a.n - b.n);
  const list = placed.map((p, index) => ({
    index,
    id: `${p.zone}-${p.n}`,
    zone: p.zone,
    zoneIndex: p.zoneIndex,
  }));
  const file = {
    v: 1,
    zones: names.map((zone) => ({
      id: zone,
      regions: list.filter((r) => r.zone === zone).map((r) => ({
        id: r.id,
        url: `https://${r.id}.mesh.sim`,
        publicKey: placeholderKey(r.index),
      })),
    })),
  };
  const topology = Topology.parse(JSON.stringify(file), "simulated topology");
  const order = topology.regions.map((r) => r.id).join();
  if (order !== list.map((r) => r.id).join()) throw new Error("topology order must be zone order");
  const zoneLatencyMs = names.map((a) =>
    names.map((b) => a === b ? 0 : CROSS_ZONE_MS[`${a}-${b}`] ?? CROSS_ZONE_MS[`${b}-${a}`])
  );
  return { regions: list, zones: names, topology, zoneLatencyMs };
}

function placeholderKey(index: number): string {
  const bytes = new Uint8Array(32);
  bytes[0] = 1;
  new DataView(bytes.buffer).setUint32(28, index + 1);
  return encodeBase64Url(bytes);
}

/** The regions cut off by the partition: the last zone's (a minority for every size above). */
export function minorityRegions(layout: Layout): Set<number> {
  const last = layout.zones.length - 1;
  return new Set(layout.regions.filter((r) => r.zoneIndex === last).map((r) => r.index));
}
