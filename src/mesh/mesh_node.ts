/**
 * One instance's part in the mesh: leader lease, heartbeats and partition detection, eager
 * fan-out and anti-entropy — each a short job run on a scheduler tick, and only by the region's
 * leader — and its status. The signed region-to-region endpoints, which any instance serves, are
 * the `PeerInbox` it holds.
 */
import type { DeltaOrigin } from "../store/region_store.ts";
import { caughtUp, drainTo, envelopeBatches, fanOutCursors, fanOutLabel } from "./fan_out.ts";
import { logTotal } from "../store/region_log.ts";
import { forwardEach, Underway } from "./eager_forward.ts";
import type { Delta } from "../protocol/delta.ts";
import type { DeltaResult } from "../protocol/result.ts";
import { LeaderLease } from "./leader_lease.ts";
import {
  judgeSession,
  newPeerState,
  partitionOf,
  peerRows,
  type PeerState,
  SYNC_PENALTY_MS_MAX,
  SYNC_PENALTY_MS_MIN,
} from "./_peer_state.ts";
import { exchangeTargets, zoneLeaders } from "./partition.ts";
import { envelopeId, PeerClient } from "./peer_client.ts";
import { HEARTBEAT_WAIT_MS_MAX, Heartbeats } from "./heartbeats.ts";
import {
  ANTI_ENTROPY_DEFER_MS_MAX,
  ANTI_ENTROPY_MS_DEFAULT,
  FANOUT_BACKOFF_MS_MAX,
  HEARTBEAT_MS_DEFAULT,
  type MeshNodeOptions,
} from "./mesh_options.ts";
import {
  EPOCH_FENCE_LEASES,
  PEER_DELTAS_MAX,
  PeerInbox,
  RegionMessageRefused,
  type SignedAnswer,
  type Summary,
} from "./peer_inbox.ts";
import type { RegionInfo, Topology } from "./topology.ts";
import { createTelemetry, names, type Telemetry } from "../telemetry/mod.ts";
import { detached, TraceMarks } from "../telemetry/trace_context.ts";
import { MeshObserver } from "./mesh_observer.ts";

export {
  ANTI_ENTROPY_DEFER_MS_MAX,
  ANTI_ENTROPY_MS_DEFAULT,
  FANOUT_BACKOFF_MS_MAX,
  FANOUT_MS_DEFAULT,
  HEARTBEAT_MS_DEFAULT,
  type MeshNodeOptions,
} from "./mesh_options.ts";

/** What a region tells its peers about itself in every heartbeat (and its reply). */
export { EPOCH_FENCE_LEASES, PEER_DELTAS_MAX, RegionMessageRefused };
export { SYNC_PENALTY_MS_MAX, SYNC_PENALTY_MS_MIN };
export type { SignedAnswer, Summary };

export class MeshNode {
  readonly self: RegionInfo;
  readonly topology: Topology;
  readonly lease: LeaderLease;
  readonly heartbeatMs: number;
  readonly antiEntropyMs: number;
  readonly #o: MeshNodeOptions;
  readonly #now: () => number;
  readonly #peers = new Map<string, PeerState>();
  readonly #client: PeerClient;
  readonly #telemetry: Telemetry;
  readonly #observer: MeshObserver;
  /** The trace each delta this leader forwards came in with, for its drain to continue. */
  readonly #marks = new TraceMarks();
  /** The signed region-to-region endpoints this instance serves. */
  readonly inbox: PeerInbox;
  #antiEntropyTurn = 0;
  #kicked = false;
  readonly #forwards = new Underway();
  readonly #heartbeats: Heartbeats;

  constructor(options: MeshNodeOptions) {
    this.#o = options;
    this.self = options.self;
    this.topology = options.topology;
    this.#now = options.now ?? Date.now;
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS_DEFAULT;
    this.antiEntropyMs = options.antiEntropyMs ?? ANTI_ENTROPY_MS_DEFAULT;
    this.#telemetry = options.telemetry ?? createTelemetry();
    this.#observer = new MeshObserver(this.self.id, options.instance, this.#telemetry, options.log);
    this.lease = new LeaderLease(options.store, options.instance, {
      ttlMs: options.leaseTtlMs,
      now: this.#now,
    });
    this.#client = new PeerClient({
      self: this.self.id,
      key: options.key,
      now: this.#now,
      fetch: options.fetch,
      timeoutMs: options.peerTimeoutMs,
      verify: options.verify,
    });
    this.inbox = new PeerInbox({
      ...options,
      now: this.#now,
      telemetry: this.#telemetry,
      leaseTtlMs: this.lease.ttlMs,
      summary: () => this.summary(),
      onAdmitted: (deltas, origin) => this.forward(deltas, origin),
      // A relay may go on (across zones): drain now, as after a push, not at the next tick.
      onStored: (deltas, source) => (this.kick(), options.onStored?.(deltas, source)),
      noteSummary: (from, summary) => {
        this.#peers.get(from)!.summary = { ...summary, receivedAtMs: this.#now() };
      },
    });
    for (const region of this.topology.regions) {
      if (region.id === this.self.id) continue;
      this.#peers.set(region.id, newPeerState(this.heartbeatMs));
    }
    this.#heartbeats = new Heartbeats({
      self: this.self.id,
      client: this.#client,
      peers: this.#peers,
      now: this.#now,
      telemetry: this.#telemetry,
      epoch: () => this.lease.epoch,
      waitMs: options.heartbeatWaitMs ?? Math.min(this.heartbeatMs, HEARTBEAT_WAIT_MS_MAX),
      sleep: options.sleep,
      background: options.background,
    });
  }

  // ---- jobs (run on scheduler ticks) ----------------------------------------------------------

  /** Takes or renews the leader lease. */
  async leaseTick(): Promise<void> {
    await this.lease.tick();
    this.#observer.lease(this.lease);
  }

  /**
   * Leader only: heartbeats every exchange target that has none unanswered, each on its own
   * schedule; answers feed the failure detectors. Waits for them at most one period
   * (heartbeats.ts): a hanging peer never holds up the beats to the others.
   */
  async heartbeatTick(): Promise<void> {
    if (!this.lease.isLeader) return;
    const attrs = {
      [names.ATTR_REGION]: this.self.id,
      [names.ATTR_LEADER_EPOCH]: this.lease.epoch,
    };
    await this.#telemetry.inSpan(names.SPAN_HEARTBEAT, attrs, async (span) => {
      const summary = await this.summary();
      const round = await this.#heartbeats.round(this.#targets(), summary);
      span.setAttributes({
        [names.ATTR_PEERS_ANSWERED]: round.answered,
        [names.ATTR_PARTITION]: summary.partition,
      });
      const view = this.#partition();
      this.#observer.view(view, this.#targets(view), this.#peers, this.#now());
    });
  }

  /**
   * Asks for a fan-out now instead of at the next tick (called after deltas were accepted), so
   * a delta crosses each hop without waiting for the drain period. Coalesced; leader only.
   */
  kick(): void {
    if (this.#kicked || !this.lease.isLeader) return;
    this.#kicked = true;
    // Not under the request that kicked: each send continues its own deltas' traces (#marks).
    const kicked = new Promise<void>((resolve) =>
      setTimeout(() =>
        detached(() => {
          this.#kicked = false;
          this.fanOutTick().catch(() => undefined).then(resolve); // the periodic tick retries
        }), 0)
    );
    this.#o.background?.(kicked);
  }

  /**
   * Leader only: sends deltas an ingest here is about to store (from an agent, or relayed with
   * `origin`) to the targets fan-out sends them to, now, while they commit (eager_forward.ts).
   * A target it cannot take them now gets them from the log. Never throws.
   */
  forward(deltas: readonly Delta[], origin: DeltaOrigin): void {
    if (!this.lease.isLeader) return;
    this.#marks.mark(deltas.map((d) => d.id));
    if (this.#o.forwardEagerly === false) return;
    // Not what is already held (relayed when first stored), nor what an ingest under way forwards.
    const fresh = deltas.filter((d) => !this.#o.index.has(d.id) && this.#forwards.claim(d.id));
    if (fresh.length === 0) return;
    deltas = fresh;
    const view = this.#partition();
    const leadsZone = this.#leadsZone(view);
    // Across zones first: that link is the longer one, so its message leaves before the zone's.
    const local = (t: RegionInfo) => Number(t.zone === this.self.zone);
    const targets = this.#targets(view).sort((a, b) => local(a) - local(b));
    const sends = forwardEach(deltas, targets, this.#now(), {
      peer: (target) => this.#peers.get(target.id)!,
      label: (target) => fanOutLabel(origin, this.self, target, leadsZone),
      send: (target, label, envelopes) => this.#sendForResults(target, label, envelopes),
      kick: () => this.kick(),
    });
    this.#forwards.track(sends);
    for (const send of sends) this.#o.background?.(send);
  }

  /** Resolves once every eager forward under way has ended (for tests that step time). */
  forwardsSettled(): Promise<void> {
    return this.#forwards.settled();
  }

  /** Leader only: drains the region log to every exchange target that is behind and due. */
  async fanOutTick(): Promise<void> {
    if (!this.lease.isLeader) return;
    const heads = await this.#o.store.logHeads();
    // One partition view for the whole tick: who leads and who is a target must agree, or a
    // target could be drained as if we did not lead and its entries skipped.
    const view = this.#partition();
    const leadsZone = this.#leadsZone(view);
    const now = this.#now();
    await Promise.all(
      this.#targets(view).map(async (target) => {
        const peer = this.#peers.get(target.id)!;
        if (peer.draining || peer.forwarding) {
          peer.again = true;
          return;
        }
        if (now < peer.nextFanOutMs || caughtUp(peer.acked, heads)) return;
        peer.draining = true;
        const attrs = {
          [names.ATTR_REGION]: this.self.id,
          [names.ATTR_PEER]: target.id,
          [names.ATTR_LEADER_EPOCH]: this.lease.epoch,
        };
        await this.#telemetry.inSpan(names.SPAN_FANOUT, attrs, async (span) => {
          const result = await drainTo(
            this.#o.store,
            this.self,
            target,
            leadsZone,
            async (t, origin, deltas) => (await this.#sendForResults(t, origin, deltas)) !== null,
            { heads, acked: peer.acked, forwarded: peer.forwarded },
          );
          this.#observer.drained(span, target.id, result.sent, result.behind);
          peer.behind = result.behind;
          peer.acked = result.ok ? result.cursor : null;
          if (result.ok) {
            peer.failures = 0;
            peer.nextFanOutMs = 0;
            if (result.behind === 0) peer.unsent = false;
          } else {
            peer.failures++;
            const backoff = Math.min(FANOUT_BACKOFF_MS_MAX, 25 * 2 ** Math.min(peer.failures, 10));
            peer.nextFanOutMs = now + backoff * (0.5 + (this.#o.random ?? Math.random)() / 2);
          }
        }).finally(() => {
          peer.draining = false;
          if (peer.again) {
            peer.again = false;
            this.kick();
          }
        });
      }),
    );
  }

  /** Leader only: one reconciliation with the next exchange target, round robin. */
  async antiEntropyTick(): Promise<void> {
    if (!this.lease.isLeader) return;
    const now = this.#now();
    // A peer serving a penalty for a hostile session waits its turn out; the others go on.
    const targets = this.#targets().filter((t) => this.#peers.get(t.id)!.syncPenaltyUntilMs <= now);
    if (targets.length === 0) return;
    const target = targets[this.#antiEntropyTurn++ % targets.length];
    // Anti-entropy is the safety net: while fan-out still has a backlog for this peer, the two
    // would move (and verify) the same deltas twice, so it waits — but at most
    // ANTI_ENTROPY_DEFER_MS_MAX since it last ran with this peer, since some deltas (repaired
    // ones, relays a non-leader skips) reach a peer by anti-entropy alone.
    const peer = this.#peers.get(target.id)!;
    if (peer.behind > 0 && now - peer.lastAntiEntropyMs < ANTI_ENTROPY_DEFER_MS_MAX) return;
    peer.lastAntiEntropyMs = now;
    const attrs = {
      [names.ATTR_REGION]: this.self.id,
      [names.ATTR_PEER]: target.id,
      [names.ATTR_LEADER_EPOCH]: this.lease.epoch,
    };
    await this.#telemetry.inSpan(
      names.SPAN_ANTI_ENTROPY,
      attrs,
      async (span) => {
        const result = await this.#o.index.reconcileWith(target, {
          client: this.#client,
          epoch: this.lease.epoch,
          verify: this.#o.verify,
          now: this.#now,
          fetch: this.#o.fetch,
          admission: this.#o.admission,
          onStored: this.#o.onStored,
          telemetry: this.#telemetry,
          region: this.self.id,
          zone: this.self.zone,
        });
        // Repairs are logged as the peer's relay would be, and may go on: drain now.
        if (result.pulled > 0) this.kick();
        const penalized = judgeSession(peer, result.ok, result.penalty, this.#now());
        this.#observer.session(span, target.id, result, penalized ? result.penalty! : null);
        if (!result.ok) throw new Error(`anti-entropy with ${target.id}: ${result.error}`);
      },
    ).catch(() => undefined); // recorded on the span; the next tick tries again
  }

  /** `POST /v1/peer/deltas` (see `PeerInbox.onPeerDeltas`). */
  onPeerDeltas(body: string, signature: string | null): Promise<SignedAnswer> {
    return this.inbox.onPeerDeltas(body, signature);
  }

  /** `POST /v1/peer/heartbeat` (see `PeerInbox.onHeartbeat`). */
  onHeartbeat(body: string, signature: string | null): Promise<SignedAnswer> {
    return this.inbox.onHeartbeat(body, signature);
  }

  /** This region's summary as of now. */
  async summary(): Promise<Summary> {
    await this.#o.index.catchUp();
    const view = this.#partition();
    return {
      region: this.self.id,
      epoch: this.lease.epoch,
      logHead: this.#o.index.logCursor,
      deltas: this.#o.index.size,
      fingerprint: this.#o.index.fingerprint(),
      reachable: [...view.reachable].sort(),
      partition: view.state,
    };
  }

  /** `GET /v1/status`. */
  async status() {
    const summary = await this.summary();
    const lease = this.lease.lease ?? await this.#o.store.getLease("leader");
    const view = this.#partition();
    const now = this.#now();
    const targets = new Set(this.#targets().map((t) => t.id));
    return {
      region: this.self.id,
      zone: this.self.zone,
      instance: this.lease.holder,
      leader: lease === null ? null : { ...lease, self: this.lease.isLeader },
      partition: view.state,
      reachable: summary.reachable,
      fingerprint: summary.fingerprint,
      deltas: summary.deltas,
      logHead: summary.logHead,
      heartbeatMs: this.heartbeatMs,
      peers: await peerRows(view.rows, this.self.id, {
        peers: this.#peers,
        targets,
        monitoring: this.lease.isLeader,
        acked: async (id) => logTotal(await this.#o.store.getCursors(fanOutCursors(id))),
        logHead: summary.logHead,
        nowMs: now,
      }),
    };
  }

  #partition() {
    return partitionOf(this.topology, this.self.id, this.#peers, this.#now());
  }

  #leadsZone(view = this.#partition()): boolean {
    return zoneLeaders(this.topology, view.reachable).get(this.self.zone) ===
      this.self.id;
  }

  #targets(view = this.#partition()): RegionInfo[] {
    return exchangeTargets(this.topology, this.self.id, view.reachable, view.direct);
  }

  /** Sends `deltas` to `target`; the peer's result for each, in order, or null on a failure. */
  async #sendForResults(
    target: RegionInfo,
    origin: DeltaOrigin,
    deltas: { body: string; sig: string }[],
  ): Promise<DeltaResult[] | null> {
    const attrs = {
      [names.ATTR_REGION]: this.self.id,
      [names.ATTR_PEER]: target.id,
      [names.ATTR_ORIGIN]: origin,
      [names.ATTR_FANOUT_SENT]: deltas.length,
    };
    // A drain's send continues the trace its first delta came in with (a forward's is the same).
    const placement = this.#marks.placementFor(function* () {
      for (const d of deltas) yield envelopeId(d);
    }());
    return await this.#telemetry.inSpan(names.SPAN_FANOUT_SEND, attrs, async () => {
      const results: DeltaResult[] = [];
      for (const batch of envelopeBatches(deltas)) {
        const answer = await this.#client.send<{ results: DeltaResult[] }>(
          target,
          "/v1/peer/deltas",
          "deltas",
          this.lease.epoch,
          { origin, deltas: batch },
        );
        if (!answer.ok) return null;
        results.push(...answer.body.results);
      }
      return results;
    }, placement);
  }
}
