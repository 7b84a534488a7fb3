/**
 * Who writes what, where and when, drawn from the seed before anything runs:
 *
 * - steady phase: every agent writes one delta (seq 1) to its home region, the writes arriving as
 *   a Poisson process at `writesPerSecond` mesh-wide;
 * - partition phase: a share of the agents writes one more (seq 2) while the last zone is cut off;
 * - Byzantine agents: half the equivocators push two different deltas with seq 1 to two regions
 *   of different zones at once in the steady phase, the other half two with seq 2 to one region
 *   on each side of the partition; after the heal each pushes one ordinary delta (seq 3), which
 *   regions that know of its equivocation refuse; each forger pushes one delta in another
 *   agent's name (bad signature).
 *
 * Struct of arrays, one entry per push, in time order.
 */
import type { Rng } from "../../test/support/seeded_rng.ts";
import { type Layout, minorityRegions, type ScenarioOptions } from "./scenario.ts";

/** Simulated time before the first write: regions hear each other first. */
export const WARMUP_MS = 2_000;
/** Pause between the steady phase's last write and the partition. */
export const SETTLE_MS = 5_000;
/** When equivocators push again after the heal. */
export const AFTER_HEAL_MS = 5_000;

export const PHASE_STEADY = 0;
export const PHASE_PARTITION = 1;
export const PHASE_AFTER_HEAL = 2;

export interface Timeline {
  readonly steadyEndMs: number;
  readonly partitionStartMs: number;
  readonly healMs: number;
  readonly lastWriteMs: number;
}

export interface WritePlan {
  readonly count: number;
  /** The author the body names (for a forgery, the victim). */
  readonly author: Int32Array;
  /** The agent whose key signs (differs from `author` for forgeries only). */
  readonly signer: Int32Array;
  readonly seq: Uint8Array;
  /** 0: ordinary; 1, 2: the two halves of an equivocation. */
  readonly variant: Uint8Array;
  readonly channel: Uint16Array;
  readonly atMs: Float64Array;
  readonly region: Int16Array;
  readonly phase: Uint8Array;
  readonly home: Int16Array;
  readonly channels: number;
  readonly equivocators: readonly number[];
  readonly forgers: readonly number[];
  readonly timeline: Timeline;
}

interface Row {
  author: number;
  signer: number;
  seq: number;
  variant: number;
  channel: number;
  atMs: number;
  region: number;
  phase: number;
}

/** Channels for `agents` agents: one per 1,000 agents (room-0 … room-k). */
export function channelCount(agents: number): number {
  return Math.max(1, Math.round(agents / 1_000));
}

export function planWrites(o: ScenarioOptions, layout: Layout, rng: Rng): WritePlan {
  const regions = layout.regions.length;
  const channels = channelCount(o.agents);
  const home = Int16Array.from({ length: o.agents }, () => rng.int(regions));
  const byzantine = pickAgents(rng, o.agents, o.equivocators + o.forgers);
  const equivocators = byzantine.slice(0, o.equivocators);
  const forgers = byzantine.slice(o.equivocators);
  const special = new Set(byzantine);
  const rows: Row[] = [];
  const channelOf = (agent: number) => special.has(agent) ? 0 : agent % channels;
  const steadyEndMs = WARMUP_MS + (o.agents / o.writesPerSecond) * 1_000;
  const partitionStartMs = steadyEndMs + SETTLE_MS;
  const healMs = o.partition ? partitionStartMs + o.partitionMs : partitionStartMs;
  // Steady phase: one write per agent, in a random order, Poisson arrivals.
  let t = WARMUP_MS;
  const order = rng.shuffle(Array.from({ length: o.agents }, (_, i) => i));
  const meanGapMs = 1_000 / o.writesPerSecond;
  for (const agent of order) {
    t += -Math.log(1 - rng.next()) * meanGapMs;
    const atMs = Math.min(t, steadyEndMs);
    if (!special.has(agent)) {
      rows.push(row(agent, agent, 1, 0, channelOf(agent), atMs, home[agent], PHASE_STEADY));
    }
  }
  const span = (from: number, to: number) => from + rng.next() * (to - from);
  // Half the equivocators cheat in the steady phase, the others across the partition.
  const split = o.partition ? Math.ceil(equivocators.length / 2) : equivocators.length;
  for (const agent of equivocators.slice(0, split)) {
    const atMs = span(WARMUP_MS, steadyEndMs);
    const [a, b] = twoZones(rng, layout);
    rows.push(row(agent, agent, 1, 1, 0, atMs, a, PHASE_STEADY));
    rows.push(row(agent, agent, 1, 2, 0, atMs, b, PHASE_STEADY));
  }
  for (const agent of forgers) {
    const victim = (agent + 1 + rng.int(o.agents - 1)) % o.agents;
    rows.push(row(victim, agent, 1, 0, 0, span(WARMUP_MS, steadyEndMs), home[agent], 0));
  }
  if (o.partition) {
    const late = equivocators.slice(split);
    planPartition(o, layout, rng, { rows, home, special, equivocators: late, channelOf });
  }
  const afterHealMs = healMs + AFTER_HEAL_MS;
  for (const agent of equivocators) {
    rows.push(row(agent, agent, 3, 0, 0, afterHealMs, home[agent], PHASE_AFTER_HEAL));
  }
  rows.sort((x, y) => x.atMs - y.atMs);
  const lastWriteMs = rows.length === 0 ? 0 : rows[rows.length - 1].atMs;
  return {
    count: rows.length,
    author: Int32Array.from(rows, (r) => r.author),
    signer: Int32Array.from(rows, (r) => r.signer),
    seq: Uint8Array.from(rows, (r) => r.seq),
    variant: Uint8Array.from(rows, (r) => r.variant),
    channel: Uint16Array.from(rows, (r) => r.channel),
    atMs: Float64Array.from(rows, (r) => r.atMs),
    region: Int16Array.from(rows, (r) => r.region),
    phase: Uint8Array.from(rows, (r) => r.phase),
    home,
    channels,
    equivocators,
    forgers,
    timeline: { steadyEndMs, partitionStartMs, healMs, lastWriteMs },
  };
}

/** Writes while the last zone is cut off: a share of agents, and the equivocators' split pairs. */
function planPartition(
  o: ScenarioOptions,
  layout: Layout,
  rng: Rng,
  ctx: {
    rows: Row[];
    home: Int16Array;
    special: ReadonlySet<number>;
    equivocators: readonly number[];
    channelOf: (agent: number) => number;
  },
): void {
  const start = WARMUP_MS + (o.agents / o.writesPerSecond) * 1_000 + SETTLE_MS;
  const within = () => start + 1_000 + rng.next() * Math.max(0, o.partitionMs - 2_000);
  const writers = Math.round(o.agents * o.partitionWriteShare);
  for (const agent of pickAgents(rng, o.agents, writers)) {
    if (ctx.special.has(agent)) continue;
    const region = ctx.home[agent];
    ctx.rows.push(row(agent, agent, 2, 0, ctx.channelOf(agent), within(), region, PHASE_PARTITION));
  }
  const minority = [...minorityRegions(layout)];
  const majority = layout.regions.map((r) => r.index).filter((i) => !minority.includes(i));
  for (const agent of ctx.equivocators) {
    const atMs = within();
    ctx.rows.push(row(agent, agent, 2, 1, 0, atMs, rng.pick(minority), PHASE_PARTITION));
    ctx.rows.push(row(agent, agent, 2, 2, 0, atMs, rng.pick(majority), PHASE_PARTITION));
  }
}

function row(
  author: number,
  signer: number,
  seq: number,
  variant: number,
  channel: number,
  atMs: number,
  region: number,
  phase: number,
): Row {
  return { author, signer, seq, variant, channel, atMs, region, phase };
}

/** `k` distinct agents of `n`, drawn without replacement. */
function pickAgents(rng: Rng, n: number, k: number): number[] {
  const picked = new Set<number>();
  k = Math.min(k, n);
  while (picked.size < k) picked.add(rng.int(n));
  return [...picked];
}

/** Two regions in different zones (the first zone's and another's when there is one). */
function twoZones(rng: Rng, layout: Layout): [number, number] {
  const a = rng.pick(layout.regions);
  const others = layout.regions.filter((r) => r.zoneIndex !== a.zoneIndex);
  const b = others.length > 0 ? rng.pick(others) : rng.pick(layout.regions);
  return [a.index, b.index];
}
