/**
 * The scale simulation: a seeded discrete-event run of the mesh's protocol core (see
 * docs/simulation.md). `simulate(options)` draws the writes, signs them, builds the regions,
 * starts each region's jobs (heartbeats, fan-out, anti-entropy) and the agents' pushes, cuts the
 * last zone off and heals it, runs until every region holds every stored delta, checks the end
 * state and returns the figures.
 */
import { Rng } from "../../test/support/seeded_rng.ts";
import { FANOUT_MS_DEFAULT } from "../../src/mesh/mesh_node.ts";
import { startAntiEntropy } from "./anti_entropy_sim.ts";
import { checkConvergence, type Checks } from "./checks.ts";
import { DeltaPool, type PoolStats } from "./delta_pool.ts";
import { Detection, type DetectionReport, PROBE_MS } from "./detection.ts";
import { EventQueue } from "./event_queue.ts";
import { drainAll } from "./fan_out_sim.ts";
import { startHeartbeats } from "./heartbeat_sim.ts";
import { Metrics, percentiles } from "./metrics.ts";
import { SimNetwork } from "./network.ts";
import { layoutOf, minorityRegions, type ScenarioOptions } from "./scenario.ts";
import { HEARTBEAT_MS, ORIGIN_AGENT, SimRegion } from "./sim_region.ts";
import { PUSH_ANSWER_BYTES, pushBytes, request } from "./wire.ts";
import type { World } from "./world.ts";
import {
  PHASE_PARTITION,
  PHASE_STEADY,
  planWrites,
  type Timeline,
  WARMUP_MS,
} from "./write_plan.ts";
import { summarize, type Traffic } from "./traffic.ts";

/** An agent's request timeout before it pushes again, ms (the simulation's choice). */
export const AGENT_TIMEOUT_MS = 2_000;
const PLAN_STREAM = 0x2545f491, KEY_STREAM = 0x9e3779b9, NET_STREAM = 0x5bd1e995;
const JITTER_STREAM = 0x27d4eb2f;

export interface Spread {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface SimulationResult {
  readonly options: ScenarioOptions;
  readonly timeline: Timeline;
  readonly deltas: { planned: number; stored: number; converged: number };
  /** Rounds and time to converge of the deltas written in the steady phase and in the partition. */
  readonly steady: { rounds: Spread; convergeMs: Spread };
  readonly partitioned: { rounds: Spread; convergeMs: Spread };
  /** From the heal until every region held every delta written before it, ms (NaN: no cut). */
  readonly healToConvergedMs: number;
  /** From the steady phase's last write until every region held every steady-phase delta, ms. */
  readonly steadyDrainMs: number;
  readonly detection: DetectionReport;
  readonly traffic: Traffic;
  readonly metrics: Metrics;
  readonly checks: Checks;
  readonly pool: PoolStats;
  readonly wall: { poolMs: number; runMs: number; events: number; simulatedMs: number };
}

/** Where a long run reports how far it got (every `PROGRESS_MS` of wall time). */
export type Progress = (line: string) => void;
const PROGRESS_MS = 15_000;

export async function simulate(
  options: ScenarioOptions,
  progress: Progress = () => {},
): Promise<SimulationResult> {
  const layout = layoutOf(options.regions, options.zones);
  const plan = planWrites(options, layout, new Rng(options.seed ^ PLAN_STREAM));
  let started = performance.now();
  progress(`planned ${plan.count} deltas; signing, parsing and verifying them`);
  const pool = await DeltaPool.build(plan, new Rng(options.seed ^ KEY_STREAM), options.verifyEvery);
  const poolMs = performance.now() - started;
  progress(`deltas ready in ${Math.round(poolMs / 1_000)} s (${JSON.stringify(pool.stats)})`);
  started = performance.now();
  const queue = new EventQueue();
  const kicked = new Set<number>();
  const regions: SimRegion[] = [];
  const world: World = {
    options,
    queue,
    net: new SimNetwork(
      layout,
      new Rng(options.seed ^ NET_STREAM),
      options.lossRate,
      options.failRate,
    ),
    pool,
    layout,
    regions,
    metrics: new Metrics(pool.count, layout.regions.length),
    indexOf: new Map(layout.regions.map((r) => [r.id, r.index])),
    jitter: new Rng(options.seed ^ JITTER_STREAM),
    kick: (index) => {
      if (kicked.has(index)) return;
      kicked.add(index);
      queue.at(queue.nowMs, () => (kicked.delete(index), drainAll(world, regions[index])));
    },
  };
  for (const info of layout.regions) regions.push(new SimRegion(info, world));
  const detection = new Detection(world, WARMUP_MS);
  startJobs(world, detection);
  const agents = startAgents(world);
  const { healMs, lastWriteMs } = plan.timeline;
  let reported = performance.now();
  const done = () => {
    if (performance.now() - reported > PROGRESS_MS) {
      reported = performance.now();
      const m = world.metrics;
      progress(
        `simulated ${Math.round(queue.nowMs / 1_000)} s, ${queue.ran} events, ` +
          `${m.stored} deltas stored, ${m.converged} everywhere`,
      );
    }
    return agents.done && agents.pending === 0 && queue.nowMs >= healMs &&
      world.metrics.allConverged;
  };
  queue.run(lastWriteMs + options.convergeMsMax, done);
  const runMs = performance.now() - started;
  return result(world, detection, { poolMs, runMs });
}

/** Every region's jobs, staggered by a seeded offset, and the partition and the probes. */
function startJobs(world: World, detection: Detection): void {
  const { queue, regions, jitter, net, options, pool } = world;
  for (const r of regions) {
    startHeartbeats(world, r, jitter.next() * HEARTBEAT_MS);
    startAntiEntropy(world, r, 1_000 + jitter.next() * 2_000);
    const fanOut = () => (drainAll(world, r), queue.after(FANOUT_MS_DEFAULT, fanOut));
    queue.at(jitter.next() * FANOUT_MS_DEFAULT, fanOut);
  }
  const probe = () => {
    detection.probe();
    noteBacklogs(world);
    queue.after(PROBE_MS, probe);
  };
  queue.at(0, probe);
  if (!options.partition) return;
  const minority = minorityRegions(world.layout);
  queue.at(pool.plan.timeline.partitionStartMs, () => {
    net.partition(minority);
    detection.cut(minority);
  });
  queue.at(pool.plan.timeline.healMs, () => {
    net.partition(null);
    detection.heal();
  });
}

/** How far each region's fan-out to each of its targets is behind now (the largest is kept). */
function noteBacklogs(world: World): void {
  const max = world.metrics.backlogMax;
  for (const r of world.regions) {
    for (const t of r.targets()) {
      const behind = r.logLength - r.peers[t].cursor;
      if (world.regions[t].info.zone === r.info.zone) max.zone = Math.max(max.zone, behind);
      else max.crossZone = Math.max(max.crossZone, behind);
    }
  }
}

/** The agents' pushes, in plan order, each retried after a timeout until answered. */
function startAgents(world: World): { done: boolean; pending: number } {
  const { queue, pool, metrics, regions } = world;
  const state = { done: false, pending: 0 };
  const push = (d: number, attempt: number): void => {
    metrics.sent(d, queue.nowMs);
    const region = pool.plan.region[d];
    request(
      world,
      -1,
      region,
      "push",
      pushBytes(world, d),
      AGENT_TIMEOUT_MS,
      (reply) =>
        regions[region].receive([d], ORIGIN_AGENT, -1, attempt, ([outcome]) => {
          metrics.outcomes[outcome]++;
          reply(PUSH_ANSWER_BYTES);
        }),
      (ok) => {
        if (ok) return void state.pending--;
        metrics.outcomes.retries++;
        push(d, attempt + 1);
      },
    );
  };
  let next = 0;
  const write = () => {
    while (next < pool.count && pool.plan.atMs[next] <= queue.nowMs) {
      state.pending++;
      push(next++, 1);
    }
    if (next < pool.count) queue.at(pool.plan.atMs[next], write);
    else state.done = true;
  };
  queue.at(pool.count > 0 ? pool.plan.atMs[0] : 0, write);
  return state;
}

function result(
  world: World,
  detection: Detection,
  wall: { poolMs: number; runMs: number },
): SimulationResult {
  const { pool, metrics, queue, options } = world;
  const plan = pool.plan;
  const phase = (p: number) => {
    const rounds: number[] = [], convergeMs: number[] = [];
    for (let d = 0; d < pool.count; d++) {
      if (plan.phase[d] !== p || metrics.holders[d] === 0) continue;
      rounds.push(metrics.rounds[d]);
      convergeMs.push(metrics.convergedMs[d] - metrics.sentMs[d]);
    }
    return { rounds: percentiles(rounds), convergeMs: percentiles(convergeMs) };
  };
  const { healMs } = plan.timeline;
  // The last delta to converge, of all and of those written before the heal.
  let lastSteadyMs = 0, lastSteadyWriteMs = 0, lastBeforeHealMs = 0;
  for (let d = 0; d < pool.count; d++) {
    const at = metrics.convergedMs[d];
    if (plan.phase[d] === PHASE_STEADY && at > lastSteadyMs) lastSteadyMs = at;
    if (plan.phase[d] === PHASE_STEADY) {
      lastSteadyWriteMs = Math.max(lastSteadyWriteMs, plan.atMs[d]);
    }
    if (plan.atMs[d] < healMs && at > lastBeforeHealMs) lastBeforeHealMs = at;
  }
  return {
    options,
    timeline: plan.timeline,
    deltas: { planned: pool.count, stored: metrics.stored, converged: metrics.converged },
    steady: phase(PHASE_STEADY),
    partitioned: phase(PHASE_PARTITION),
    healToConvergedMs: options.partition ? lastBeforeHealMs - healMs : NaN,
    steadyDrainMs: lastSteadyMs - lastSteadyWriteMs,
    detection: detection.report,
    traffic: summarize(world),
    metrics,
    checks: checkConvergence(world),
    pool: pool.stats,
    wall: { ...wall, events: queue.ran, simulatedMs: queue.nowMs },
  };
}
