/**
 * Heartbeats as `MeshNode.heartbeatTick` and `PeerInbox.onHeartbeat` do them: the region sends
 * its summary to every exchange target; the target notes it and answers with its own; an answer
 * that comes back in time feeds the sender's real `PhiAccrualDetector` for that peer, becomes its
 * latest summary, and ends a fan-out back-off to it (the link works again).
 *
 * The job (`per-peer`, as the code is: src/mesh/heartbeats.ts): every `HEARTBEAT_MS` it sends to
 * each target that has no heartbeat unanswered (at most one in flight per peer); the round waits
 * for answers at most one period, so the timer scheduler's next tick comes on time and a slow or
 * blackholed peer holds up only itself. `together` (the code before issue 14's fix): one tick
 * sends to every target and waits for every answer or timeout (`PEER_REQUEST_TIMEOUT_MS`) before
 * the next tick, which the timer scheduler starts `HEARTBEAT_MS` after the last one started or at
 * once if that is past; so one lost heartbeat held up the next beats to all the other peers for up
 * to 2 s.
 */
import { PEER_REQUEST_TIMEOUT_MS } from "../../src/mesh/peer_client.ts";
import { HEARTBEAT_MS, type SimRegion } from "./sim_region.ts";
import { heartbeatBytes, request } from "./wire.ts";
import type { World } from "./world.ts";

/** Starts region `r`'s heartbeat job at `startMs`. */
export function startHeartbeats(world: World, r: SimRegion, startMs: number): void {
  const tick = world.options.heartbeatJob === "together" ? tickTogether : tickPerPeer;
  world.queue.at(startMs, () => tick(world, r));
}

function tickTogether(world: World, r: SimRegion): void {
  const { queue } = world;
  const started = queue.nowMs;
  const targets = r.targets();
  let pending = targets.length;
  const next = () =>
    queue.at(Math.max(started + HEARTBEAT_MS, queue.nowMs), () => tickTogether(world, r));
  if (pending === 0) return next();
  for (const t of targets) beat(world, r, t, () => --pending === 0 && next());
}

function tickPerPeer(world: World, r: SimRegion): void {
  for (const t of r.targets()) {
    const peer = r.peers[t];
    if (peer.heartbeating) continue;
    peer.heartbeating = true;
    beat(world, r, t, () => peer.heartbeating = false);
  }
  world.queue.after(HEARTBEAT_MS, () => tickPerPeer(world, r));
}

/** One heartbeat from `r` to `t` and its answer; `done` when answered or timed out. */
function beat(world: World, r: SimRegion, t: number, done: () => void): void {
  const target = world.regions[t];
  const mine = [...r.view().reachable];
  let answered: string[] | null = null;
  request(
    world,
    r.index,
    t,
    "heartbeat",
    heartbeatBytes(r.view().reachable),
    PEER_REQUEST_TIMEOUT_MS,
    (reply) => {
      // The target notes the sender's summary (PeerInbox.noteSummary), then answers with its own.
      target.peers[r.index].summary = {
        receivedAtMs: world.queue.nowMs,
        epoch: 1,
        reachable: mine,
      };
      target.invalidateView();
      const theirs = target.view().reachable;
      answered = [...theirs];
      reply(heartbeatBytes(theirs));
    },
    (ok) => {
      if (ok && answered !== null) {
        const peer = r.peers[t];
        const now = world.queue.nowMs;
        peer.detector.heartbeat(now);
        if (peer.failures > 0) peer.nextFanOutMs = 0;
        peer.summary = { receivedAtMs: now, epoch: 1, reachable: answered };
        r.invalidateView();
      }
      done();
    },
  );
}
