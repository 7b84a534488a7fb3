/**
 * Bootstrap by bulk copy (issue 13, docs/protocol.md §26): a new or reset region — one whose set
 * is far smaller than a peer's — reads that peer's deltas page by page in the peer's log order
 * and stores them through the ingest every relayed delta passes (parse, signature, system-channel
 * rules, admission), origin `sync` so they are not fanned out again. Nothing of the peer's is
 * trusted: not its folded state (this region's checkpoint job writes its own checkpoints from
 * what it stored), not its deltas (each is verified), not its cursor (it must move forward).
 *
 * The copy's state — the peer, its cursor, what was stored — is one value in the store index,
 * written after each stored page: a crash resumes from the last stored page. At most two pages are
 * in memory (one stored while the next is asked). A peer that lies can send junk (refused per
 * delta; the copy from it is abandoned and it is not asked again for a while), break the
 * protocol (a cursor that stays, goes back or loops: abandoned likewise), or withhold (the copy
 * ends short): in every case anti-entropy, held while a copy runs, then reconciles with every
 * peer and brings the rest.
 */
import type { AgentKey } from "../crypto/agent_key.ts";
import type { AdmissionPolicy } from "../guard/admission.ts";
import type { DeltaResult, VerifyFn } from "../protocol/result.ts";
import { ingest } from "../region/ingest.ts";
import type { RegionStore } from "../store/region_store.ts";
import { type Logger, names, type Telemetry } from "../telemetry/mod.ts";
import {
  BOOTSTRAP_KIND,
  BOOTSTRAP_PAGE_DELTAS_MAX,
  BOOTSTRAP_PATH,
  CURSOR_START,
  type LogCursor,
  type PageAnswer,
  pageAnswerSchema,
  pageProblem,
} from "./bootstrap_page.ts";
import { type CopyState, readCopyState, writeCopyState } from "./bootstrap_state.ts";
import { PeerClient } from "./peer_client.ts";
import type { MeshNode } from "./mesh_node.ts";
import type { RegionIndex, StoredHook } from "./region_index.ts";
import type { RegionInfo, Topology } from "./topology.ts";

/**
 * `auto`: copy when far behind a peer (below); `off`: never (anti-entropy only); `{from}`: copy
 * from that peer once, when the store records no copy (an operator's explicit start).
 */
export type BootstrapMode = "auto" | "off" | { readonly from: string };
/** A peer must hold at least this many deltas more than this region for a copy to start. */
export const BOOTSTRAP_DELTAS_MIN = 10_000;
/** …and this region must hold less than this share of the peer's deltas. */
export const BOOTSTRAP_SHARE_BELOW = 0.5;
/** Longest one tick copies, in ms (the next tick goes on from the stored cursor). */
export const BOOTSTRAP_TICK_MS_MAX = 20_000;
/** Pages in a row that store nothing new before a copy is abandoned as stalled. */
export const BOOTSTRAP_IDLE_PAGES_MAX = 32;
/** Failed page requests in a row before a copy from that peer is abandoned. */
export const BOOTSTRAP_FAILURES_MAX = 8;
/** A peer whose copy was abandoned is not copied from again for this long, doubling, in ms. */
export const BOOTSTRAP_BACKOFF_MS_MIN = 60_000;
export const BOOTSTRAP_BACKOFF_MS_MAX = 3_600_000;
/**
 * How long a region must have been far behind a peer before `auto` starts a copy, in ms: a
 * region that only lags behind fan-out for a moment (a burst of pushes elsewhere) is not copied.
 */
export const BOOTSTRAP_BEHIND_MS = 10_000;
/** After a copy ended, no new copy starts for this long, in ms (anti-entropy's turn). */
export const BOOTSTRAP_COOLDOWN_MS = 600_000;
/** Longest wait for one page, in ms. */
export const BOOTSTRAP_REQUEST_TIMEOUT_MS = 15_000;
/** Job period: how often a region checks whether to start, or goes on with, a copy. */
export const BOOTSTRAP_TICK_MS = 1_000;

/**
 * Refusals an honest peer's deltas may get here: a clock ahead of ours, a certificate not yet
 * copied, the second half of an equivocation (stored as evidence). Any other is junk.
 */
const HONEST_REFUSALS = new Set(["future_timestamp", "not_admitted", "seq_conflict"]);

/** A peer with the size of its set as its last summary reported it. */
export interface PeerSize {
  readonly id: string;
  readonly deltas: number;
}

export interface BootstrapDeps {
  readonly self: RegionInfo;
  readonly topology: Topology;
  readonly key: AgentKey;
  readonly store: RegionStore;
  readonly index: RegionIndex;
  readonly verify: VerifyFn;
  /** The region's leader lease: only the leader copies, with its epoch on each request. */
  readonly lease: { readonly isLeader: boolean; readonly epoch: number };
  /** The exchange targets reachable now, with their reported sizes (heartbeat summaries). */
  readonly peers: () => Promise<readonly PeerSize[]>;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
  readonly admission?: AdmissionPolicy;
  readonly onStored?: StoredHook;
  readonly telemetry: Telemetry;
  readonly log: Logger;
  /** Default `auto`. */
  readonly mode?: BootstrapMode;
  readonly timeoutMs?: number;
  /** How many deltas more a peer must hold to trigger `auto`. Default BOOTSTRAP_DELTAS_MIN. */
  readonly deltasMin?: number;
}

type Asked = { ok: true; answer: PageAnswer; cursor: LogCursor } | {
  ok: false;
  busy: boolean;
  error: string;
};

export class Bootstrap {
  readonly #d: BootstrapDeps;
  readonly #now: () => number;
  readonly #client: PeerClient;
  /** The copy this instance is running (null: none, or not loaded yet). */
  #state: CopyState | null = null;
  #stateText: string | null = null;
  #failures = 0;
  #idle = 0;
  /** Since when (ms) the trigger has found this region far behind a peer; null: it is not. */
  #behindSinceMs: number | null = null;
  readonly #backoff = new Map<string, { untilMs: number; strikes: number }>();

  constructor(deps: BootstrapDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#client = new PeerClient({
      self: deps.self.id,
      key: deps.key,
      now: this.#now,
      fetch: deps.fetch,
      verify: deps.verify,
      timeoutMs: deps.timeoutMs ?? BOOTSTRAP_REQUEST_TIMEOUT_MS,
    });
  }

  /** True while this instance runs a copy: anti-entropy waits (workers/mesh_jobs.ts). */
  get copying(): boolean {
    return this.#state?.status === "copying" && this.#d.lease.isLeader;
  }

  /** The copy as last read or written here (null: none). */
  get state(): CopyState | null {
    return this.#state;
  }

  /** Leader only: starts a copy when far behind a peer, or goes on with the one under way. */
  async tick(): Promise<void> {
    if (this.#d.mode === "off" || !this.#d.lease.isLeader) return;
    await this.#load();
    const from = typeof this.#d.mode === "object" ? this.#d.mode.from : null;
    if (from !== null && this.#state === null) await this.start(from);
    if (this.#state?.status !== "copying") {
      const peer = from === null ? await this.#due() : null;
      if (peer === null) return;
      await this.start(peer);
    }
    await this.#copy();
  }

  /** Starts a copy from `peer` now (whatever the trigger says), replacing any copy recorded. */
  async start(peer: string): Promise<void> {
    await this.#load();
    this.#failures = 0;
    this.#idle = 0;
    const state: CopyState = {
      v: 1,
      peer,
      cursor: CURSOR_START,
      status: "copying",
      stored: 0,
      pages: 0,
      startedAtMs: this.#now(),
      endedAtMs: null,
      reason: null,
    };
    await this.#save(state);
    this.#d.log.info(names.EVENT_BOOTSTRAP_STARTED, { peer, local: this.#d.index.size });
  }

  /** The peer to copy from now, or null: the largest reachable peer this region is far behind. */
  async #due(): Promise<string | null> {
    const ended = this.#state?.endedAtMs;
    if (ended != null && this.#now() - ended < BOOTSTRAP_COOLDOWN_MS) return null;
    await this.#d.index.catchUp();
    const local = this.#d.index.size;
    let best: PeerSize | null = null;
    for (const peer of await this.#d.peers()) {
      if ((this.#backoff.get(peer.id)?.untilMs ?? 0) > this.#now()) continue;
      const far = peer.deltas - local >= (this.#d.deltasMin ?? BOOTSTRAP_DELTAS_MIN) &&
        local < BOOTSTRAP_SHARE_BELOW * peer.deltas;
      if (far && (best === null || peer.deltas > best.deltas)) best = peer;
    }
    if (best === null) {
      this.#behindSinceMs = null;
      return null;
    }
    this.#behindSinceMs ??= this.#now();
    return this.#now() - this.#behindSinceMs >= BOOTSTRAP_BEHIND_MS ? best.id : null;
  }

  /** Copies pages until the copy ends or the tick's time is up; one page asked ahead. */
  async #copy(): Promise<void> {
    const deadline = this.#now() + BOOTSTRAP_TICK_MS_MAX;
    const peer = this.#d.topology.region(this.#state!.peer);
    if (peer === undefined || peer.id === this.#d.self.id) {
      return await this.#end("abandoned", "the peer is not in the topology", false);
    }
    let pending = this.#ask(peer, this.#state!.cursor);
    for (;;) {
      const asked = await pending;
      if (!asked.ok) return await this.#failed(peer.id, asked);
      this.#failures = 0;
      const problem = pageProblem(
        { cursor: asked.cursor, limit: BOOTSTRAP_PAGE_DELTAS_MAX },
        asked.answer,
      );
      if (problem !== null) return await this.#end("abandoned", problem, true);
      const { answer } = asked;
      const ahead = !answer.done && this.#now() < deadline && this.copying;
      if (ahead) pending = this.#ask(peer, answer.next);
      const stored = await this.#storePage(peer.id, answer);
      if (stored === null) return await this.#end("abandoned", "junk deltas", true);
      this.#idle = stored > 0 ? 0 : this.#idle + 1;
      const state = this.#state!;
      const next = { ...state, cursor: answer.next, stored: state.stored + stored };
      if (!await this.#save({ ...next, pages: state.pages + 1 })) return; // another instance's
      if (answer.done) return await this.#end("done", null, false);
      if (this.#idle >= BOOTSTRAP_IDLE_PAGES_MAX) {
        return await this.#end("abandoned", "pages store nothing new", true);
      }
      if (!ahead) return;
    }
  }

  /**
   * Stores one page through ingest: the number of deltas newly stored, or null when the page
   * carried junk (a delta refused for a reason an honest peer's never is).
   */
  async #storePage(peer: string, answer: PageAnswer): Promise<number | null> {
    const { store, verify, index, telemetry, self } = this.#d;
    const attrs = { [names.ATTR_REGION]: self.id, [names.ATTR_PEER]: peer };
    return await telemetry.inSpan(names.SPAN_BOOTSTRAP_PAGE, attrs, async (span) => {
      await index.catchUp(); // what earlier pages stored is known: duplicates skip verification
      const outcome = await ingest(answer.deltas, store, verify, this.#now(), {
        origin: "sync",
        known: (id) => index.has(id),
        admission: this.#d.admission,
      });
      const fresh = [...outcome.accepted, ...outcome.evidence];
      await this.#d.onStored?.(fresh, peer);
      const junk = outcome.results.filter(isJunk).length;
      this.#count(peer, outcome.results, junk > 0 ? "refused" : "stored");
      span.setAttributes({
        [names.ATTR_PUSH_DELTAS]: answer.deltas.length,
        [names.ATTR_PUSH_ACCEPTED]: fresh.length,
        [names.ATTR_BOOTSTRAP_OUTCOME]: junk > 0 ? "refused" : "stored",
      });
      return junk > 0 ? null : fresh.length;
    });
  }

  #count(peer: string, results: readonly DeltaResult[], page: string): void {
    const { telemetry, self } = this.#d;
    const base = { [names.ATTR_REGION]: self.id, [names.ATTR_PEER]: peer };
    telemetry.bootstrapPages.add(1, { ...base, [names.ATTR_BOOTSTRAP_OUTCOME]: page });
    const byOutcome = new Map<string, number>();
    for (const r of results) byOutcome.set(r.status, (byOutcome.get(r.status) ?? 0) + 1);
    for (const [outcome, n] of byOutcome) {
      telemetry.bootstrapDeltas.add(n, { ...base, [names.ATTR_OUTCOME]: outcome });
    }
  }

  /** Asks `peer` for the page at `cursor`; never throws. */
  async #ask(peer: RegionInfo, cursor: LogCursor): Promise<Asked> {
    const answer = await this.#client.send(
      peer,
      BOOTSTRAP_PATH,
      BOOTSTRAP_KIND,
      Math.max(1, this.#d.lease.epoch),
      { cursor, limit: BOOTSTRAP_PAGE_DELTAS_MAX },
      pageAnswerSchema,
    );
    if (answer.ok) return { ok: true, answer: answer.body, cursor };
    return { ok: false, busy: answer.status === 429, error: answer.error };
  }

  /** A page request failed: retried next tick, unless the peer failed too often in a row. */
  async #failed(peer: string, asked: Extract<Asked, { ok: false }>): Promise<void> {
    this.#d.telemetry.bootstrapPages.add(1, {
      [names.ATTR_REGION]: this.#d.self.id,
      [names.ATTR_PEER]: peer,
      [names.ATTR_BOOTSTRAP_OUTCOME]: asked.busy ? "busy" : "failed",
    });
    if (asked.busy) return;
    if (++this.#failures < BOOTSTRAP_FAILURES_MAX) return;
    await this.#end("abandoned", `${this.#failures} failed requests: ${asked.error}`, false);
  }

  /** Ends the copy; with `penalty`, the peer is not copied from again for a while. */
  async #end(status: "done" | "abandoned", reason: string | null, penalty: boolean) {
    const state = this.#state!;
    if (penalty) {
      const strikes = (this.#backoff.get(state.peer)?.strikes ?? 0) + 1;
      const backoff = BOOTSTRAP_BACKOFF_MS_MIN * 2 ** Math.min(strikes - 1, 10);
      const untilMs = this.#now() + Math.min(BOOTSTRAP_BACKOFF_MS_MAX, backoff);
      this.#backoff.set(state.peer, { untilMs, strikes });
      this.#d.telemetry.bootstrapPages.add(1, {
        [names.ATTR_REGION]: this.#d.self.id,
        [names.ATTR_PEER]: state.peer,
        [names.ATTR_BOOTSTRAP_OUTCOME]: "penalized",
      });
    }
    this.#failures = 0;
    this.#idle = 0;
    await this.#save({ ...state, status, endedAtMs: this.#now(), reason });
    const fields = { peer: state.peer, outcome: status, reason, stored: state.stored };
    if (status === "done") this.#d.log.info(names.EVENT_BOOTSTRAP_ENDED, fields);
    else this.#d.log.warn(names.EVENT_BOOTSTRAP_ENDED, fields);
  }

  async #load(): Promise<void> {
    const { state, text } = await readCopyState(this.#d.store);
    this.#state = state;
    this.#stateText = text;
  }

  /** Writes `state` if the stored one is still ours; false (and reloaded) when it was not. */
  async #save(state: CopyState): Promise<boolean> {
    const text = await writeCopyState(this.#d.store, state, this.#stateText);
    if (text === null) {
      await this.#load();
      return false;
    }
    this.#state = state;
    this.#stateText = text;
    return true;
  }
}

function isJunk(result: DeltaResult): boolean {
  return result.status === "rejected" && !HONEST_REFUSALS.has(result.reason ?? "");
}

/** The mode `MESH_BOOTSTRAP` names: `auto`, `off`, or a region id to copy from. */
export function bootstrapMode(setting: string): BootstrapMode {
  return setting === "auto" || setting === "off" ? setting : { from: setting };
}

/**
 * The exchange targets this instance hears as up, with the size their last summary reported:
 * what the `auto` trigger compares this region's set with.
 */
export async function peerSizesOf(node: MeshNode): Promise<PeerSize[]> {
  const status = await node.status();
  return status.peers.flatMap((p) =>
    p.target && p.health === "up" && p.deltas !== null ? [{ id: p.id, deltas: p.deltas }] : []
  );
}
