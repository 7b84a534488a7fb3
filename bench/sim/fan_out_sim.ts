/**
 * Fan-out as `drainTo` and `MeshNode.fanOutTick` do it (src/mesh/fan_out.ts, mesh_node.ts), on
 * the simulated log: per target, from its cursor, gather a page of up to
 * `FANOUT_PAGE_DELTAS_MAX` entries the real `fanOutLabel` sends there (by origin, zone and
 * whether this region leads its zone), skipping the others, scanning at most
 * `FANOUT_PAGE_SCAN_MAX` log entries; cut them into messages of at most `FANOUT_BATCH_DELTAS_MAX`
 * deltas and `FANOUT_MESSAGE_BYTES_MAX` bytes and send them all at once, `FANOUT_PAGES_IN_FLIGHT`
 * pages at a time; move the cursor past a page only when it and the pages before it were
 * acknowledged; at most `FANOUT_ENTRIES_PER_DRAIN_MAX` entries examined a drain. A failed page
 * backs off (25 ms × 2^failures, at most `FANOUT_BACKOFF_MS_MAX`, with jitter) once the pages in
 * flight are answered, and the drain starts again from the cursor. A drain starts on every store
 * (the "kick") and on the 50 ms tick. `drain: "log-pages"` is the code before issue 14's fix:
 * pages of `FANOUT_BATCH_DELTAS_MAX × FANOUT_MESSAGES_IN_FLIGHT` log entries, one at a time.
 *
 * Not modelled: eager forwarding (MeshNode.forward sends an ingest's deltas while they commit),
 * which under light load saves one commit per hop; the drain on every store stands in for it.
 */
import {
  FANOUT_BATCH_DELTAS_MAX,
  FANOUT_ENTRIES_PER_DRAIN_MAX,
  FANOUT_MESSAGE_BYTES_MAX,
  FANOUT_MESSAGES_IN_FLIGHT,
  FANOUT_PAGE_DELTAS_MAX,
  FANOUT_PAGE_SCAN_MAX,
  FANOUT_PAGES_IN_FLIGHT,
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
    if (world.options.drain === "log-pages") step(world, r, t, leads, 0);
    else new TargetDrain(world, r, t, leads).fill();
  }
}

/** One page in flight: where it ends, and its messages' answers so far. */
interface PageSent {
  readonly last: number;
  pending: number;
  ok: boolean;
}

/** A drain of the code (`target-pages`): pages of target entries, pipelined. */
class TargetDrain {
  readonly #pages: PageSent[] = [];
  #read: number;
  #examined = 0;
  #end = false;
  #failed = false;

  constructor(
    readonly world: World,
    readonly r: SimRegion,
    readonly t: number,
    readonly leads: boolean,
  ) {
    this.#read = r.peers[t].cursor;
  }

  /** Sends pages while there is room in flight, then settles what was answered. */
  fill(): void {
    const peer = this.r.peers[this.t];
    while (
      !this.#failed && !this.#end && this.#pages.length < FANOUT_PAGES_IN_FLIGHT &&
      this.#examined < FANOUT_ENTRIES_PER_DRAIN_MAX
    ) {
      const from = this.#read;
      const scanMax = Math.min(FANOUT_PAGE_SCAN_MAX, FANOUT_ENTRIES_PER_DRAIN_MAX - this.#examined);
      const { last, end } = this.#scan(from, scanMax);
      this.#end = end;
      if (last === from) break;
      this.#examined += last - from;
      this.#read = last;
      const messages = pageMessages(this.world, this.r, this.t, from, last, this.leads);
      const page: PageSent = { last, pending: messages.length, ok: true };
      this.#pages.push(page);
      const attempt = peer.failures + 1;
      for (const message of messages) {
        sendMessage(this.world, this.r, this.t, message, attempt, (ok) => {
          if (!ok) page.ok = false;
          if (--page.pending === 0) this.#settle();
        });
      }
    }
    this.#settle();
  }

  /** Where a page from `from` ends: after FANOUT_PAGE_DELTAS_MAX target entries or `scanMax`. */
  #scan(from: number, scanMax: number): { last: number; end: boolean } {
    const { r, t, leads } = this;
    const self = r.info, target = this.world.regions[t].info;
    let i = from, taken = 0;
    while (i < r.logLength && i - from < scanMax && taken < FANOUT_PAGE_DELTAS_MAX) {
      if (fanOutLabel(ORIGINS[r.origin[i]], self, target, leads) !== null) taken++;
      i++;
    }
    return { last: i, end: i >= r.logLength };
  }

  /** Moves the cursor past the answered pages at the head; ends or goes on. */
  #settle(): void {
    const peer = this.r.peers[this.t];
    while (this.#pages.length > 0 && this.#pages[0].pending === 0) {
      const page = this.#pages.shift()!;
      if (!page.ok) this.#failed = true;
      if (this.#failed) continue;
      peer.cursor = page.last;
      peer.failures = 0;
      peer.nextFanOutMs = 0;
      if (!this.#end) return this.fill();
    }
    if (this.#pages.length > 0) return;
    if (this.#failed) return backOff(this.world, this.r, this.t);
    if (!this.#end && this.#examined < FANOUT_ENTRIES_PER_DRAIN_MAX) return this.fill();
    peer.draining = false;
    peer.behind = this.r.logLength - peer.cursor;
    if (peer.behind > 0) this.world.kick(this.r.index);
  }
}

/** Sends one message of a page to `t`; `done` with whether it was acknowledged. */
function sendMessage(
  world: World,
  r: SimRegion,
  t: number,
  message: Message,
  attempt: number,
  done: (ok: boolean) => void,
): void {
  const target = world.regions[t];
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
    done,
  );
}

/** One page of the code before the fix (`log-pages`): send it, then go on, stop, or back off. */
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
  for (const message of messages) {
    sendMessage(world, r, t, message, attempt, (acknowledged) => {
      if (!acknowledged) ok = false;
      if (--pending === 0) finish();
    });
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
