/**
 * Heartbeats to the exchange targets, each target on its own schedule. A round (one heartbeat
 * tick) sends a heartbeat to every target that has none unanswered and waits for the answers at
 * most `waitMs` (one period, at most HEARTBEAT_WAIT_MS_MAX); a heartbeat still unanswered then
 * goes on in the background until its request timeout, and holds only its own peer's slot: the
 * next rounds skip that peer and go on beating the others every period.
 *
 * Why: a round that waited for every answer lasted as long as its slowest one, and the scheduler
 * starts the next round only when the last one ended. A blackholed target (a request that hangs
 * to PEER_REQUEST_TIMEOUT_MS, 2 s) then made every live peer hear from us only every 2 s, its phi
 * crossed 8 after ~0.76 s, and live peers were suspected — a region on the majority side could
 * say `minority` without cause (docs/performance.md, "What the simulation found"). Where requests
 * drive the jobs (TickScheduler, `POST /v1/jobs/tick`), the same bound keeps a hanging peer from
 * holding up the fan-out and anti-entropy after it in the round.
 */
import type { PeerState } from "./_peer_state.ts";
import type { PeerClient } from "./peer_client.ts";
import { heartbeatSchema, type Summary } from "./peer_inbox.ts";
import type { RegionInfo } from "./topology.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";

/** Heartbeats to one peer that may be unanswered at once; a peer at the bound is skipped. */
export const HEARTBEATS_IN_FLIGHT_PER_PEER_MAX = 1;
/**
 * Longest a round waits for its answers, in ms, whatever the period (a live region answers
 * within one inter-region round trip, well under a second); later answers still count.
 */
export const HEARTBEAT_WAIT_MS_MAX = 1_000;

/** Waits `ms`, or less when `signal` aborts; never rejects. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

/** A timer; cleared when `signal` aborts, so nothing is left pending. */
export const sleepTimer: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

export interface HeartbeatDeps {
  readonly self: string;
  readonly client: PeerClient;
  readonly peers: ReadonlyMap<string, PeerState>;
  readonly now: () => number;
  readonly telemetry: Telemetry;
  /** The epoch heartbeats are sent under (the leader's). */
  readonly epoch: () => number;
  /** How long a round waits for answers, in ms. */
  readonly waitMs: number;
  /** Default: a timer. Tests on a simulated clock pass theirs. */
  readonly sleep?: Sleep;
  /** Told of each heartbeat sent (one may outlive its round), for edge hosts. */
  readonly background?: (work: Promise<unknown>) => void;
}

/** What one round did. */
export interface HeartbeatRound {
  /** Heartbeats answered within the round. */
  readonly answered: number;
  /** Heartbeats still unanswered when the round ended (they go on). */
  readonly pending: number;
  /** Targets skipped: a heartbeat to them was still unanswered. */
  readonly skipped: number;
}

export class Heartbeats {
  readonly #d: HeartbeatDeps;
  /** Unanswered heartbeats per peer id. */
  readonly #inFlight = new Map<string, number>();

  constructor(deps: HeartbeatDeps) {
    this.#d = deps;
  }

  /** Heartbeats to `peer` unanswered now. */
  inFlight(peer: string): number {
    return this.#inFlight.get(peer) ?? 0;
  }

  /**
   * One round: a heartbeat with `summary` to each target below the in-flight bound; resolves
   * when all were answered (or failed) or after `waitMs`, whichever comes first.
   */
  async round(targets: readonly RegionInfo[], summary: Summary): Promise<HeartbeatRound> {
    let answered = 0, settled = 0, skipped = 0;
    const beats: Promise<void>[] = [];
    for (const target of targets) {
      const before = this.inFlight(target.id);
      if (before >= HEARTBEATS_IN_FLIGHT_PER_PEER_MAX) {
        skipped++;
        continue;
      }
      this.#inFlight.set(target.id, before + 1);
      const beat = this.#beat(target, summary).then((ok) => {
        settled++;
        if (ok) answered++;
      }).finally(() => {
        const left = this.inFlight(target.id) - 1;
        if (left > 0) this.#inFlight.set(target.id, left);
        else this.#inFlight.delete(target.id);
      });
      this.#d.background?.(beat);
      beats.push(beat);
    }
    const stop = new AbortController();
    await Promise.race([
      Promise.all(beats),
      (this.#d.sleep ?? sleepTimer)(this.#d.waitMs, stop.signal),
    ]);
    stop.abort();
    return { answered, pending: beats.length - settled, skipped };
  }

  /** One heartbeat and its answer, which feeds the peer's detector; true when answered. */
  async #beat(target: RegionInfo, summary: Summary): Promise<boolean> {
    // The client checks the answer is signed by `target` and bound to this heartbeat.
    const answer = await this.#d.client.send(
      target,
      "/v1/peer/heartbeat",
      "heartbeat",
      this.#d.epoch(),
      { summary },
      heartbeatSchema,
    ).catch(() => null);
    if (answer === null || !answer.ok || answer.body.summary.region !== target.id) return false;
    const peer = this.#d.peers.get(target.id)!;
    const now = this.#d.now();
    peer.detector.heartbeat(now);
    // The link works again (e.g. a partition healed): retry fan-out now, not after the back-off.
    if (peer.failures > 0) peer.nextFanOutMs = 0;
    peer.summary = { ...answer.body.summary, receivedAtMs: now };
    this.#d.telemetry.heartbeatRtt.record(answer.rttMs / 1000, {
      [names.ATTR_REGION]: this.#d.self,
      [names.ATTR_PEER]: target.id,
    });
    return true;
  }
}
