/**
 * Anti-entropy as `MeshNode.antiEntropyTick` and `RegionIndex.reconcileWith` run it: every
 * `ANTI_ENTROPY_MS_DEFAULT` (the job never overlaps itself) a region picks its next exchange
 * target round robin, waits while fan-out to it has a backlog (at most
 * `ANTI_ENTROPY_DEFER_MS_MAX` since the last session with it), then reconciles with the real
 * `Reconciler` (frame version 2) against the peer's real `respond`, with the region's budgets
 * (`SYNC_SESSION_ROUNDS_MAX` rounds, `2 × SYNC_SESSION_DELTAS_MAX` differences, rotating
 * `startAt`), pulls what it lacks by `/v1/peer/fetch` (ids resolved by the real `resolveIds`,
 * `SYNC_FETCH_IDS_MAX` a request, one after the other, each stored before the next) and pushes
 * what the peer lacks, at most `SYNC_SESSION_DELTAS_MAX` each way.
 *
 * The frames are computed when the session starts, on both tries as they are then (the real
 * client freezes its own index for the session; the peer's may grow meanwhile, which the protocol
 * tolerates); each round trip then takes its simulated time, and a lost frame ends the session
 * after `SYNC_REQUEST_TIMEOUT_MS`.
 */
import { ANTI_ENTROPY_DEFER_MS_MAX, ANTI_ENTROPY_MS_DEFAULT } from "../../src/mesh/mesh_node.ts";
import { PEER_REQUEST_TIMEOUT_MS } from "../../src/mesh/peer_client.ts";
import {
  repairOrigin as repairOriginOf,
  SYNC_FETCH_IDS_MAX,
  SYNC_REQUEST_TIMEOUT_MS,
  SYNC_SESSION_DELTAS_MAX,
  SYNC_SESSION_ROUNDS_MAX,
} from "../../src/mesh/region_index.ts";
import { Reconciler, resolveIds, respond } from "../../src/sync/range_reconcile.ts";
import { ORIGIN_SYNC, originCode, type SimRegion } from "./sim_region.ts";
import {
  deltasAnswerBytes,
  deltasRequestBytes,
  fetchAnswerBytes,
  fetchRequestBytes,
  request,
} from "./wire.ts";
import type { World } from "./world.ts";

/** What the reconciliation of one session found, and the frames it took. */
interface Plan {
  readonly frames: { request: number; answer: number }[];
  readonly have: number[];
  readonly need: Uint8Array[];
}

/** Starts region `r`'s anti-entropy job at `startMs`. */
export function startAntiEntropy(world: World, r: SimRegion, startMs: number): void {
  const tick = () => {
    const started = world.queue.nowMs;
    const next = () =>
      world.queue.at(Math.max(started + ANTI_ENTROPY_MS_DEFAULT, world.queue.nowMs), tick);
    if (!session(world, r, next)) next();
  };
  world.queue.at(startMs, tick);
}

/** One session with the next target; false when none ran (`done` is then not called). */
function session(world: World, r: SimRegion, done: () => void): boolean {
  const targets = r.targets();
  if (targets.length === 0) return false;
  const t = targets[r.antiEntropyTurn++ % targets.length];
  const peer = r.peers[t];
  const now = world.queue.nowMs;
  const stats = world.metrics.antiEntropy;
  if (peer.behind > 0 && now - peer.lastAntiEntropyMs < ANTI_ENTROPY_DEFER_MS_MAX) {
    stats.deferred++;
    return false;
  }
  peer.lastAntiEntropyMs = now;
  stats.sessions++;
  const plan = reconcile(world, r, world.regions[t]);
  stats.rounds += plan.frames.length;
  stats.roundsMax = Math.max(stats.roundsMax, plan.frames.length);
  const failed = () => {
    stats.failed++;
    done();
  };
  const rounds = plan.frames.length;
  const frame = (i: number): void => {
    if (i === rounds) {
      return pull(
        world,
        r,
        t,
        plan.need,
        rounds + 1,
        () => push(world, r, t, plan.have, rounds + 1, done, failed),
        failed,
      );
    }
    const { request: bytes, answer } = plan.frames[i];
    stats.frameBytes += bytes + answer;
    request(
      world,
      r.index,
      t,
      "sync",
      bytes,
      SYNC_REQUEST_TIMEOUT_MS,
      (reply) => reply(answer),
      (ok) => ok ? frame(i + 1) : failed(),
    );
  };
  frame(0);
  return true;
}

/** The whole reconciliation between `r` (client) and `peer` (server), as they are now. */
function reconcile(world: World, r: SimRegion, peer: SimRegion): Plan {
  const salt = new Uint8Array(8);
  for (let i = 0; i < 8; i++) salt[i] = world.jitter.int(256);
  const session = new Reconciler(r.trie, {
    roundsMax: SYNC_SESSION_ROUNDS_MAX,
    differencesMax: 2 * SYNC_SESSION_DELTAS_MAX,
    startAt: r.sessions++,
    salt,
  });
  const frames: Plan["frames"] = [];
  const have: number[] = [], need: Uint8Array[] = [];
  let frame: Uint8Array | null = session.start();
  while (frame !== null) {
    const answer = respond(peer.trie, frame);
    frames.push({ request: frame.length, answer: answer.length });
    const step = session.receive(answer);
    for (const id of step.have) {
      if (have.length < SYNC_SESSION_DELTAS_MAX) have.push(r.trie.get(id)!);
    }
    for (const id of step.need) if (need.length < SYNC_SESSION_DELTAS_MAX) need.push(id);
    frame = step.next;
  }
  return { frames, have, need };
}

/** Fetches `need` from `t` a request at a time, storing each answer before the next. */
function pull(
  world: World,
  r: SimRegion,
  t: number,
  need: Uint8Array[],
  step: number,
  done: () => void,
  failed: () => void,
): void {
  const peer = world.regions[t];
  const next = (from: number): void => {
    if (from >= need.length) return done();
    const ids = need.slice(from, from + SYNC_FETCH_IDS_MAX);
    let deltas: number[] = [];
    request(
      world,
      r.index,
      t,
      "fetch",
      fetchRequestBytes(ids.length),
      PEER_REQUEST_TIMEOUT_MS,
      (reply) => {
        deltas = resolveIds(peer.trie, ids, SYNC_FETCH_IDS_MAX).map((e) => e.value);
        reply(fetchAnswerBytes(world, deltas));
      },
      (ok) => {
        if (!ok) return failed();
        world.metrics.antiEntropy.pulled += deltas.length;
        r.receive(
          deltas,
          repairOrigin(world, r, peer),
          t,
          step,
          () => next(from + SYNC_FETCH_IDS_MAX),
        );
      },
    );
  };
  next(0);
}

/** Pushes `have` to `t`, one `/v1/peer/deltas` message at a time. */
function push(
  world: World,
  r: SimRegion,
  t: number,
  have: number[],
  step: number,
  done: () => void,
  failed: () => void,
): void {
  const peer = world.regions[t];
  const next = (from: number): void => {
    if (from >= have.length) return done();
    const batch = have.slice(from, from + SYNC_FETCH_IDS_MAX);
    request(
      world,
      r.index,
      t,
      "repair",
      deltasRequestBytes(world, batch),
      PEER_REQUEST_TIMEOUT_MS,
      (reply) =>
        peer.receive(
          batch,
          repairOrigin(world, peer, r),
          r.index,
          step,
          (o) => reply(deltasAnswerBytes(o.length)),
        ),
      (ok) => {
        if (!ok) return failed();
        world.metrics.antiEntropy.pushed += batch.length;
        next(from + SYNC_FETCH_IDS_MAX);
      },
    );
  };
  next(0);
}

/**
 * The log origin of a delta region `to` stored by anti-entropy from region `from`, as
 * `repairOrigin` (src/mesh/region_index.ts) gives it; `sync` for the code before the fix.
 */
function repairOrigin(world: World, to: SimRegion, from: SimRegion): number {
  if (!world.options.repairRelay) return ORIGIN_SYNC;
  return originCode(repairOriginOf(to.info.zone, from.info));
}
