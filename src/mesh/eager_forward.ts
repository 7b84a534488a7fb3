/**
 * Eager forwarding: the deltas an ingest is about to store are sent to the peers their origin
 * sends them to at once, from memory, while they commit here — the peer verifies and stores on
 * its own, so a hop costs one commit (the peer's) instead of a commit here, a wake-up, a log read
 * and then the peer's commit.
 *
 * The region log stays the record of what each peer must get: the drain (fan_out.ts) skips the
 * ids a peer acknowledged this way and sends everything else as before. A peer is forwarded to
 * only while its fan-out is idle and caught up, with up to FORWARDS_IN_FLIGHT_MAX messages under
 * way (on a long link one at a time would hold every delta behind the last one's answer, a round
 * trip); any other time (a drain running, a backlog, a failure, an unknown cursor) the delta
 * waits for the drain. Messages in flight together may arrive out of order, so a message carries,
 * before its own deltas, every delta of the same channels still in flight to that peer (at most
 * CARRIED_DELTAS_MAX): whichever message arrives first stores the channel's deltas in the order
 * this region sent them, and the others find duplicates (a topic's subscribers in the peer's
 * region get each publisher's messages in order). More than that to carry, or a channel in flight
 * under another label, and the delta waits for the drain, which runs once the forwards are over
 * and sends in log order. A delta the peer
 * refuses for arriving early (one whose certificate is in a message still on its way) goes again
 * by the drain, in log order. A local commit that fails after the peer stored the delta leaves the peer
 * ahead, which anti-entropy repairs (we pull it back); a delta that turns out to be a duplicate
 * here costs the peer one `duplicate` answer.
 */
import type { PeerState } from "./_peer_state.ts";
import type { DeltaResult } from "../protocol/result.ts";
import { FANOUT_BATCH_DELTAS_MAX } from "./fan_out.ts";
import type { DeltaOrigin } from "../store/region_store.ts";
import type { RegionInfo } from "./topology.ts";

/** Ids a peer acknowledged by eager forwarding that its drain has not reached yet, per peer. */
export const FORWARDED_IDS_MAX = 4_096;
/** Eager forwards under way to one peer at most; more deltas wait for its drain. */
export const FORWARDS_IN_FLIGHT_MAX = 8;
/** Most deltas forwarded eagerly at once; a larger ingest goes by the log alone. */
export const FORWARD_DELTAS_MAX = FANOUT_BATCH_DELTAS_MAX;
/** Most deltas still in flight one message carries again (in order) before its own. */
export const CARRIED_DELTAS_MAX = 32;

if (FORWARD_DELTAS_MAX > FORWARDED_IDS_MAX) {
  throw new Error("FORWARDED_IDS_MAX must hold at least one forwarded message's ids");
}

/** A delta as eager forwarding sends it. */
export interface Forwarded {
  readonly id: string;
  readonly channel: string;
  readonly body: string;
  readonly sig: string;
}

/** Sends deltas to a peer: its result for each, in order, or null when the send failed. */
export type SendForResults = (
  target: RegionInfo,
  origin: DeltaOrigin,
  deltas: { body: string; sig: string }[],
) => Promise<readonly DeltaResult[] | null>;

/** What forwardEach needs of the mesh node. */
export interface ForwardDeps {
  peer(target: RegionInfo): PeerState;
  /** The label to send with to `target`, or null when the deltas do not go there. */
  label(target: RegionInfo): DeltaOrigin | null;
  readonly send: SendForResults;
  /** Asks for a drain (one waited for a forward to end). */
  kick(): void;
}

/**
 * Forwards `deltas` to each of `targets` they go to and that may take them now; marks the others
 * `unsent` (their drain sends them). Returns at once, with the sends running on (their promises,
 * which never reject, for a caller that wants to know when they are over).
 */
export function forwardEach(
  deltas: readonly Forwarded[],
  targets: readonly RegionInfo[],
  nowMs: number,
  deps: ForwardDeps,
): Promise<void>[] {
  const sends: Promise<void>[] = [];
  for (const target of targets) {
    const label = deps.label(target);
    if (label === null) continue;
    const peer = deps.peer(target);
    const message = deltas.length > FORWARD_DELTAS_MAX || !mayForward(peer, nowMs)
      ? null
      : withCarried(peer, label, deltas);
    if (message === null) {
      peer.unsent = true;
      continue;
    }
    sends.push(
      forwardTo(peer, target, label, message, deps.send).finally(() => {
        if (!peer.again) return;
        peer.again = false;
        deps.kick();
      }),
    );
  }
  return sends;
}

/**
 * `deltas` after the deltas of their channels still in flight to `peer`, in the order those
 * were sent; null when that is more than CARRIED_DELTAS_MAX or FORWARD_DELTAS_MAX in all, or a
 * channel is in flight under another label (the drain sends them then).
 */
function withCarried(
  peer: PeerState,
  label: DeltaOrigin,
  deltas: readonly Forwarded[],
): Forwarded[] | null {
  const own = new Set(deltas.map((d) => d.id));
  const carried: Forwarded[] = [];
  for (const channel of new Set(deltas.map((d) => d.channel))) {
    const inFlight = peer.forwardingChannels.get(channel);
    if (inFlight === undefined) continue;
    if (inFlight.label !== label) return null;
    for (const [id, d] of inFlight.deltas) if (!own.has(id)) carried.push({ id, channel, ...d });
  }
  const fits = carried.length <= CARRIED_DELTAS_MAX &&
    carried.length + deltas.length <= FORWARD_DELTAS_MAX;
  return fits ? [...carried, ...deltas] : null;
}

/**
 * Whether `peer` may be forwarded to now: no drain running, room in flight, nothing behind, no
 * back-off. (The acknowledged ids the drain has not met are bounded by evicting the oldest, which
 * the drain then only sends again: nothing waits on them.)
 */
export function mayForward(peer: PeerState, nowMs: number): boolean {
  return !peer.draining && peer.forwarding < FORWARDS_IN_FLIGHT_MAX && !peer.unsent &&
    peer.acked !== null && peer.behind === 0 && peer.failures === 0 &&
    nowMs >= peer.nextFanOutMs;
}

/**
 * Sends `deltas` to `target` as `label` and, once acknowledged, notes their ids so the drain
 * skips them. On failure the peer is marked `unsent`: nothing more is forwarded to it until a
 * drain has caught it up. Never throws.
 */
export async function forwardTo(
  peer: PeerState,
  target: RegionInfo,
  label: DeltaOrigin,
  deltas: readonly Forwarded[],
  send: SendForResults,
): Promise<void> {
  peer.forwarding++;
  const channels = noteInFlight(peer, label, deltas);
  try {
    const results = await send(target, label, deltas.map(({ body, sig }) => ({ body, sig })))
      .catch(() => null);
    if (results === null) {
      peer.unsent = true;
      return;
    }
    // Only what the peer now holds is skipped by the drain (and no longer carried); anything it
    // refused (e.g. a delta whose certificate is still in the log behind it) goes again in log
    // order.
    deltas.forEach(({ id, channel }, i) => {
      const r = results[i];
      const held = r?.status === "accepted" || r?.status === "duplicate" ||
        (r?.status === "rejected" && r.reason === "seq_conflict"); // stored there as evidence
      if (!held) {
        peer.unsent = true;
        return;
      }
      peer.forwarded.add(id);
      peer.forwardingChannels.get(channel)!.deltas.delete(id);
    });
    for (const id of peer.forwarded) { // oldest first; an evicted id is only sent again
      if (peer.forwarded.size <= FORWARDED_IDS_MAX) break;
      peer.forwarded.delete(id);
    }
  } finally {
    peer.forwarding--;
    for (const c of channels) {
      const inFlight = peer.forwardingChannels.get(c)!;
      if (--inFlight.messages === 0) peer.forwardingChannels.delete(c);
    }
  }
}

/** Notes a message's deltas as in flight to `peer`, per channel; returns its channels. */
function noteInFlight(peer: PeerState, label: DeltaOrigin, deltas: readonly Forwarded[]) {
  const channels = new Set<string>();
  for (const d of deltas) {
    let inFlight = peer.forwardingChannels.get(d.channel);
    if (inFlight === undefined) {
      inFlight = { label, deltas: new Map(), messages: 0 };
      peer.forwardingChannels.set(d.channel, inFlight);
    }
    if (!channels.has(d.channel)) inFlight.messages++;
    channels.add(d.channel);
    if (!inFlight.deltas.has(d.id)) inFlight.deltas.set(d.id, { body: d.body, sig: d.sig });
  }
  return channels;
}

/** Ids one instance remembers having forwarded, so a delta is forwarded once. */
export const FORWARD_CLAIMS_MAX = 4_096;

/**
 * Sends under way (eager forwards), so a caller that steps time can wait for them to end; and the
 * ids recently forwarded, so two ingests of one delta at once forward it once.
 */
export class Underway {
  readonly #sends = new Set<Promise<void>>();
  readonly #claimed = new Set<string>();

  /** True the first time `id` is claimed (among the last `FORWARD_CLAIMS_MAX`). */
  claim(id: string): boolean {
    if (this.#claimed.has(id)) return false;
    this.#claimed.add(id);
    for (const oldest of this.#claimed) {
      if (this.#claimed.size <= FORWARD_CLAIMS_MAX) break;
      this.#claimed.delete(oldest);
    }
    return true;
  }

  track(sends: readonly Promise<void>[]): void {
    for (const send of sends) {
      this.#sends.add(send);
      void send.finally(() => this.#sends.delete(send));
    }
  }

  async settled(): Promise<void> {
    while (this.#sends.size > 0) await Promise.all(this.#sends);
  }
}
