/**
 * Two models of Serf's convergence for N nodes, to set beside the mesh's figures. Both are
 * models, not Serf: no Serf or memberlist code runs here.
 *
 * 1. Serf's own convergence simulator (serf.io/docs/internals/simulator.html, the page's
 *    `_simulator.js`): a logistic epidemic, infected(x) = N / (1 + (N + 1) e^(−c·N·x)) with
 *    contact rate c = (fanout / N) · (1 − loss) · (1 − failed) · 0.5, x in gossip rounds of
 *    `interval` seconds; the page plots it until 99.99% of nodes are infected. Defaults are
 *    Serf's: fanout 3, interval 0.2 s.
 * 2. A memberlist-like push gossip, run as a seeded Monte Carlo: a node that learns a message
 *    sends it to `fanout` random other nodes every round until it has sent it
 *    `retransmitMult × ⌈log10(N + 1)⌉` times (memberlist's TransmitLimitedQueue with its
 *    RetransmitMult 4 and GossipNodes 3); each packet is lost with the given chance. Push alone
 *    may miss a few nodes (memberlist's periodic TCP push-pull then repairs them): the model
 *    reports how many and when the last one learnt it.
 */
import { Rng } from "../../test/support/seeded_rng.ts";

export const SERF_FANOUT = 3;
export const SERF_INTERVAL_MS = 200;
export const SERF_MAX_CONVERGE = 0.9999;
export const MEMBERLIST_RETRANSMIT_MULT = 4;
/** Serf's simulator stops plotting after this many rounds. */
const SERF_ROUNDS_MAX = 100;

/** The seeds' targets for rounds to converge: [min, max] per number of agents. */
export const SEED_TARGETS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [10, [5, 7]],
  [1_000, [8, 10]],
  [100_000, [15, 17]],
  [1_000_000, [20, 23]],
]);

/** Serf's simulator: the first round at which 99.99% of `nodes` have the message. */
export function serfFormulaRounds(nodes: number, loss = 0, fanout = SERF_FANOUT): number {
  const contact = (fanout / nodes) * (1 - loss) * 0.5;
  for (let round = 0; round < SERF_ROUNDS_MAX; round++) {
    const infected = nodes / (1 + (nodes + 1) * Math.exp(-contact * nodes * round));
    if (infected / nodes >= SERF_MAX_CONVERGE) return round;
  }
  return SERF_ROUNDS_MAX;
}

export interface PushGossipResult {
  readonly nodes: number;
  /** Rounds until 99.99% of nodes had the message, and until the last one that got it did. */
  readonly rounds9999: number | null;
  readonly roundsLast: number;
  /** Nodes push gossip never reached (left to push-pull anti-entropy). */
  readonly missed: number;
  /** Gossip packets sent carrying the message, per node. */
  readonly packetsPerNode: number;
}

/** The memberlist-like push gossip model for `nodes` nodes (one message from node 0). */
export function pushGossip(
  nodes: number,
  seed: number,
  loss = 0,
  fanout = SERF_FANOUT,
): PushGossipResult {
  const rng = new Rng(seed);
  const limit = MEMBERLIST_RETRANSMIT_MULT * Math.ceil(Math.log10(nodes + 1));
  const informed = new Uint8Array(nodes);
  const left = new Int32Array(nodes);
  let active = [0], count = 1, packets = 0, round = 0, lastInformed = 0;
  let rounds9999: number | null = null;
  informed[0] = 1;
  left[0] = limit;
  while (active.length > 0) {
    round++;
    const fresh: number[] = [];
    for (const node of active) {
      for (let k = 0; k < fanout && left[node] > 0; k++) {
        left[node]--;
        packets++;
        let to = rng.int(nodes - 1);
        if (to >= node) to++;
        if (rng.chance(loss) || informed[to] === 1) continue;
        informed[to] = 1;
        left[to] = limit;
        count++;
        fresh.push(to);
      }
    }
    if (fresh.length > 0) lastInformed = round;
    active = active.filter((n) => left[n] > 0).concat(fresh);
    if (rounds9999 === null && count >= SERF_MAX_CONVERGE * nodes) rounds9999 = round;
    if (count === nodes) break;
  }
  return {
    nodes,
    rounds9999,
    roundsLast: lastInformed,
    missed: nodes - count,
    packetsPerNode: packets / nodes,
  };
}
