/**
 * The simulated network: one-way latency per link class (agent ↔ region, same zone, across
 * zones), packet loss, failed requests, and a partition. Requests ride HTTP over TCP, so a lost
 * packet is not a lost message: TCP sends it again after its retransmission timeout (Linux's
 * minimum, `TCP_RTO_MS`, doubling for each further loss), and the message arrives that much later.
 * A request can also fail outright (`failRate`: a reset connection, a 503 from a restarting
 * instance): the sender learns it one round trip later. The partition blackholes every request
 * between its two sides: the sender learns nothing until its own timeout. Every message is
 * counted with its bytes by kind, and by whether it crossed regions or zones.
 *
 * Bytes are the HTTP bodies the real code would send (sizes computed from the same JSON shapes:
 * envelopes, region-message heads, sync frames) plus `HTTP_OVERHEAD_BYTES` of headers per
 * request or answer (an estimate: request line, host, content type and length, the 86-character
 * `mesh-signature`, status line). TCP and TLS framing and retransmitted packets are not counted.
 */
import { AGENT_LINK_MS, CROSS_ZONE_JITTER, type Layout, ZONE_LINK_MS } from "./scenario.ts";
import type { Rng } from "../../test/support/seeded_rng.ts";

/** Headers of one HTTP request or answer, bytes (estimate; see the module doc). */
export const HTTP_OVERHEAD_BYTES = 300;
/** TCP's retransmission timeout for a lost packet, ms (Linux's minimum RTO). */
export const TCP_RTO_MS = 200;
/** What `region` and `agent` return for a blackholed request (the sender times out). */
export const BLACKHOLED = -1;
/** What they return for a request that failed outright (the sender learns it a round trip on). */
export const FAILED = -2;

export type MessageKind =
  | "push" // agent → region and the answer
  | "fanout" // region → region deltas (the log drain) and the answer
  | "heartbeat" // heartbeat and its answer with the summary
  | "sync" // reconciliation frames
  | "fetch" // anti-entropy pulls (ids → envelopes)
  | "repair"; // anti-entropy pushes (envelopes → results)

export const MESSAGE_KINDS: readonly MessageKind[] = [
  "push",
  "fanout",
  "heartbeat",
  "sync",
  "fetch",
  "repair",
];

export interface TrafficCount {
  messages: number;
  bytes: number;
  lost: number;
}

export class SimNetwork {
  readonly byKind = new Map<MessageKind, TrafficCount>(
    MESSAGE_KINDS.map((k) => [k, { messages: 0, bytes: 0, lost: 0 }]),
  );
  /** Region-to-region traffic (every kind but `push`), and the part of it that crossed zones. */
  readonly crossRegion: TrafficCount = { messages: 0, bytes: 0, lost: 0 };
  readonly crossZone: TrafficCount = { messages: 0, bytes: 0, lost: 0 };
  /** Packets TCP sent again (each adds `TCP_RTO_MS` or more to its message's delay). */
  retransmits = 0;
  /** Side of each region while a partition is on (0 or 1), or null. */
  #sides: Uint8Array | null = null;

  constructor(
    readonly layout: Layout,
    readonly rng: Rng,
    readonly lossRate: number,
    readonly failRate: number,
  ) {}

  /** Cuts the regions in `minority` off from the others, both ways; null heals. */
  partition(minority: ReadonlySet<number> | null): void {
    if (minority === null) {
      this.#sides = null;
      return;
    }
    this.#sides = Uint8Array.from(this.layout.regions, (r) => minority.has(r.index) ? 1 : 0);
  }

  /** Whether the partition separates regions `a` and `b` now. */
  cut(a: number, b: number): boolean {
    return this.#sides !== null && this.#sides[a] !== this.#sides[b];
  }

  /**
   * Sends `bytes` from region `from` to region `to`: the one-way delay in ms, `BLACKHOLED` across
   * the partition, or `FAILED` (only for a request, `answer` false). Counted either way.
   */
  region(from: number, to: number, bytes: number, kind: MessageKind, answer = false): number {
    const total = bytes + HTTP_OVERHEAD_BYTES;
    const count = this.byKind.get(kind)!;
    count.messages++;
    count.bytes += total;
    const crossZone = this.layout.regions[from].zoneIndex !== this.layout.regions[to].zoneIndex;
    this.crossRegion.messages++;
    this.crossRegion.bytes += total;
    if (crossZone) {
      this.crossZone.messages++;
      this.crossZone.bytes += total;
    }
    if (this.cut(from, to)) return this.#lost(count, crossZone, BLACKHOLED);
    if (!answer && this.rng.chance(this.failRate)) return this.#lost(count, crossZone, FAILED);
    return this.latency(from, to) + this.#retransmits();
  }

  /** One-way latency between two regions now, ms (no loss, nothing counted). */
  latency(from: number, to: number): number {
    const a = this.layout.regions[from], b = this.layout.regions[to];
    if (a.zoneIndex === b.zoneIndex) return uniform(this.rng, ZONE_LINK_MS);
    const base = this.layout.zoneLatencyMs[a.zoneIndex][b.zoneIndex];
    return base * (1 + this.rng.next() * CROSS_ZONE_JITTER);
  }

  /** Sends `bytes` between an agent and its region: the delay, or `FAILED` for a request. */
  agent(bytes: number, answer = false): number {
    const count = this.byKind.get("push")!;
    count.messages++;
    count.bytes += bytes + HTTP_OVERHEAD_BYTES;
    if (!answer && this.rng.chance(this.failRate)) {
      count.lost++;
      return FAILED;
    }
    return uniform(this.rng, AGENT_LINK_MS) + this.#retransmits();
  }

  /** Delay TCP adds for lost packets: RTO, doubled for each further loss in a row. */
  #retransmits(): number {
    let delay = 0, rto = TCP_RTO_MS;
    while (this.rng.chance(this.lossRate)) {
      delay += rto;
      rto *= 2;
      this.retransmits++;
    }
    return delay;
  }

  #lost(count: TrafficCount, crossZone: boolean, outcome: number): number {
    count.lost++;
    this.crossRegion.lost++;
    if (crossZone) this.crossZone.lost++;
    return outcome;
  }

  /** Messages and bytes of every kind together. */
  total(): TrafficCount {
    const out = { messages: 0, bytes: 0, lost: 0 };
    for (const c of this.byKind.values()) {
      out.messages += c.messages;
      out.bytes += c.bytes;
      out.lost += c.lost;
    }
    return out;
  }
}

function uniform(rng: Rng, [min, max]: readonly [number, number]): number {
  return min + rng.next() * (max - min);
}
