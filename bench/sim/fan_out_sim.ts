/**
 * Fan-out as `drainTo` and `MeshNode.fanOutTick` do it (src/mesh/fan_out.ts, mesh_node.ts), on
 * the simulated log: per target, from its cursor, read a page of
 * `FANOUT_BATCH_DELTAS_MAX × FANOUT_MESSAGES_IN_FLIGHT` entries, keep those the real
 * `fanOutLabel` sends there (by origin, zone and whether this region leads its zone), cut them into
 * messages of at most `FANOUT_BATCH_DELTAS_MAX` deltas and `FANOUT_MESSAGE_BYTES_MAX` bytes, send
 * them all at once, and move the cursor past the page only when every message was acknowledged;
 * at most `FANOUT_ENTRIES_PER_DRAIN_MAX` entries a drain. A failed step backs off
 * (25 ms × 2^failures, at most `FANOUT_BACKOFF_MS_MAX`, with jitter) and is sent again whole.
 * A drain starts on every store (the "kick") and on the 50 ms tick.
 *
 * Not modelled: eager forwarding (MeshNode.forward sends an ingest's deltas while they commit),
 * which under light load saves one commit per hop; the drain on every store stands in for it.
 */
import {
  FANOUT_BATCH_DELTAS_MAX,
  FANOUT_ENTRIES_PER_DRAIN_MAX,
  FANOUT_MESSAGE_BYTES_MAX,
  FANOUT_MESSAGES_IN_FLIGHT,
  fanOutLabel,
} from "../../src/mesh/fan_out.ts";
import { FANOUT_BACKOFF_MS_MAX } from "../../src/mesh/mesh_node.ts";
import { PEER_REQUEST_TIMEOUT_MS } from "../../src/mesh/peer_client.ts";
import type { DeltaOrigin } from "../../src/store/region_store.ts";
import { originCode, ORIGINS, type SimRegion } from "./sim_region.ts";
import { deltasAnswerBytes, deltasRequestBytes, request } from "./wire.ts";
import type { World } from "./world.ts";

const PAGE_ENTRIES = FANOUT_BATCH_DELTAS_MAX * FANOUT_MESSAGES_IN_FLIGHT;

interface Message {
  readonly label: DeltaOrigin;
  readonly deltas: number[];
}

/** Drains region `r`'s log to each of its exchange targets that is due and behind. */
export function drainAll(world: World, r: SimRegion): void {
  const targets = r.targets();
  const leads = r.leadsZone();
  for (const t of targets) {
    const peer = r.peers[t];
    if (peer.draining || world.queue.nowMs < peer.nextFanOutMs) continue;
    if (peer.cursor >= r.logLength) continue;
    peer.draining = true;
    step(world, r, t, leads, 0);
  }
}

/** One page: send its messages, then go on, stop, or back off. */
function step(world: World, r: SimRegion, t: number, leads: boolean, examined: number): void {
  const peer = r.peers[t];
  const end = Math.min(r.logLength, peer.cursor + PAGE_ENTRIES);
  const messages = pageMessages(world, r, t, peer.cursor, end, leads);
  examined += end - peer.cursor;
  const attempt = peer.failures + 1;
  let pending = messages.length, ok = true;
  const finish = () => {
    if (!ok) {
      backOff(world, r, t);
      return;
    }
    peer.cursor = end;
    peer.failures = 0;
    peer.nextFanOutMs = 0;
    if (examined < FANOUT_ENTRIES_PER_DRAIN_MAX && peer.cursor < r.logLength) {
      step(world, r, t, leads, examined);
      return;
    }
    peer.draining = false;
    peer.behind = r.logLength - peer.cursor;
    if (peer.behind > 0) world.kick(r.index);
  };
  if (pending === 0) return finish();
  const target = world.regions[t];
  for (const message of messages) {
    request(
      world,
      r.index,
      t,
      "fanout",
      deltasRequestBytes(world, message.deltas),
      PEER_REQUEST_TIMEOUT_MS,
      (reply) =>
        target.receive(
          message.deltas,
          originCode(message.label),
          r.index,
          attempt,
          (outcomes) => reply(deltasAnswerBytes(outcomes.length)),
        ),
      (acknowledged) => {
        if (!acknowledged) ok = false;
        if (--pending === 0) finish();
      },
    );
  }
}

function backOff(world: World, r: SimRegion, t: number): void {
  const peer = r.peers[t];
  world.metrics.fanOutFailures++;
  peer.failures++;
  const backoff = Math.min(FANOUT_BACKOFF_MS_MAX, 25 * 2 ** Math.min(peer.failures, 10));
  peer.nextFanOutMs = world.queue.nowMs + backoff * (0.5 + world.jitter.next() / 2);
  peer.draining = false;
  peer.behind = r.logLength - peer.cursor;
}

/** The messages of log entries [from, to) for target `t`, by label, cut as envelopeBatches does. */
function pageMessages(
  world: World,
  r: SimRegion,
  t: number,
  from: number,
  to: number,
  leads: boolean,
): Message[] {
  const self = r.info, target = world.regions[t].info;
  const byLabel = new Map<DeltaOrigin, number[]>();
  for (let i = from; i < to; i++) {
    const label = fanOutLabel(ORIGINS[r.origin[i]], self, target, leads);
    if (label === null) continue;
    let list = byLabel.get(label);
    if (list === undefined) byLabel.set(label, list = []);
    list.push(r.log[i]);
  }
  const messages: Message[] = [];
  for (const [label, deltas] of byLabel) {
    let batch: number[] = [], bytes = 0;
    for (const d of deltas) {
      const size = world.pool.wire[d] + 1;
      const full = batch.length >= FANOUT_BATCH_DELTAS_MAX ||
        bytes + size > FANOUT_MESSAGE_BYTES_MAX;
      if (batch.length > 0 && full) {
        messages.push({ label, deltas: batch });
        batch = [];
        bytes = 0;
      }
      batch.push(d);
      bytes += size;
    }
    if (batch.length > 0) messages.push({ label, deltas: batch });
  }
  return messages;
}
