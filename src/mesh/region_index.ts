/**
 * The region's delta ids as a reconciliation index: an IdTrie (id → channel) per instance,
 * caught up from the region log like views are from arrivals. It answers `POST /v1/sync`
 * (region-wide, or one channel's set for an agent catching up), resolves `POST /v1/sync/fetch`,
 * and drives this region's side of anti-entropy with a peer: reconcile ids, pull what we lack
 * (re-verified, and stored as the peer's relay would have been: see `repairOrigin`), push what
 * the peer lacks (labelled the same way for it).
 */
import { z } from "zod";
import type { AdmissionPolicy } from "../guard/admission.ts";
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";
import type { Delta } from "../protocol/delta.ts";
import type { DeltaOrigin, RegionStore, StoredDelta } from "../store/region_store.ts";
import { logStart, logTotal } from "../store/region_log.ts";
import { IdAccumulator } from "../protocol/fingerprint.ts";
import { IdTrie } from "../sync/id_trie.ts";
import {
  Reconciler,
  resolveIds,
  respond,
  SYNC_FRAME_BYTES_MAX,
  SyncBudgetError,
  SyncFrameError,
} from "../sync/range_reconcile.ts";
import { ingest, type VerifyFn } from "../region/ingest.ts";
import { envelopeBatches } from "./fan_out.ts";
import type { DeltaResult } from "../protocol/result.ts";
import { envelopeId, type PeerClient } from "./peer_client.ts";
import { Problem } from "../region/problem.ts";
import type { RegionInfo } from "./topology.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";
import { traceHeaders } from "../telemetry/trace_context.ts";

export { SYNC_FRAME_BYTES_MAX } from "../sync/range_reconcile.ts";

/** Channels whose id tries one instance keeps for channel-scoped sync. */
export const SYNC_CHANNEL_TRIES_MAX = 64;
/** Fewest deltas a channel holds for its trie to be kept (smaller ones are rebuilt per request). */
export const SYNC_CHANNEL_TRIE_IDS_MIN = 256;
/** Most ids (or 16-byte id prefixes) one `POST /v1/sync/fetch` may ask for. */
export const SYNC_FETCH_IDS_MAX = 256;
/**
 * Log entries read per page while catching the index up. One page of one shard is in memory at a
 * time (shards are read one after another), so a catch-up over millions of entries allocates a
 * page's worth of entries at once and little else (issue 14).
 */
export const INDEX_CATCHUP_PAGE = 1_000;
/** Fewest ids one catch-up adds for the trie to be compacted after it (see `IdTrie.compact`). */
export const INDEX_COMPACT_IDS_MIN = 65_536;
/** Longest wait for one reconciliation round trip, in ms. */
export const SYNC_REQUEST_TIMEOUT_MS = 5_000;
/** Most deltas one anti-entropy session moves each way (the next session continues). */
export const SYNC_SESSION_DELTAS_MAX = 2_000;
/**
 * Most reconciliation rounds of one anti-entropy session. Stopping at 2 × SYNC_SESSION_DELTAS_MAX
 * differences, honest sessions measured ≤ 12 rounds (1M vs 1M ids differing by 10,000).
 */
export const SYNC_SESSION_ROUNDS_MAX = 128;
/** Longest one anti-entropy session may reconcile, in ms (by the session's clock). */
export const SYNC_SESSION_MS_MAX = 30_000;

/** What one anti-entropy session did. */
export interface SessionResult {
  readonly ok: boolean;
  readonly rounds: number;
  readonly bytes: number;
  readonly pulled: number;
  readonly pushed: number;
  readonly error?: string;
  /**
   * Set when the peer broke a bound or the protocol (`ranges`, `bytes`, `rounds`, `time`,
   * `oversize`, `protocol`): the session was abandoned and the caller should back off from it.
   */
  readonly penalty?: string;
}

const fetchAnswerSchema = z.object({ deltas: z.array(z.unknown()).max(SYNC_FETCH_IDS_MAX) });

export interface SessionContext {
  readonly client: PeerClient;
  readonly epoch: number;
  readonly verify: VerifyFn;
  readonly now: () => number;
  readonly fetch?: typeof fetch;
  /** The mesh's admission policy, applied to repaired deltas. Default: all open. */
  readonly admission?: AdmissionPolicy;
  readonly onStored?: StoredHook;
  /** Spans of each round (`mesh.sync.round`), attributed to region `region`. Default: none. */
  readonly telemetry?: Telemetry;
  readonly region?: string;
  /** This region's zone: repairs are labelled by it (see `repairOrigin`). Default: `sync`. */
  readonly zone?: string;
}

/**
 * The origin a delta anti-entropy moves between this region (zone `zone`) and `peer` is logged
 * with, at either end: as the peer's fan-out would have relayed it — `zone` between regions of
 * one zone, `remote` across zones — so a delta a session brings before fan-out did still goes on
 * where fan-out would have sent it (a zone leader passes it to the other zones, or to its own
 * zone). It cannot loop or multiply: a region logs a delta once (a duplicate is not logged),
 * fan-out reads the log, so each region sends each delta at most once per target, as for any
 * relay; and a peer that feeds us deltas by sync can already relay them to us by
 * `/v1/peer/deltas` with these very labels. `sync` (never fanned out) without a zone.
 */
export function repairOrigin(zone: string | undefined, peer: RegionInfo): DeltaOrigin {
  if (zone === undefined) return "sync";
  return peer.zone === zone ? "zone" : "remote";
}

/** Told of deltas a peer region (`source`) relayed or repaired and this region stored. */
export type StoredHook = (deltas: readonly Delta[], source: string) => void | Promise<void>;

export class RegionIndex {
  readonly #store: RegionStore;
  readonly #trie = new IdTrie<string>();
  readonly #ids = new IdAccumulator();
  /** The log position (per shard) the index reflects. */
  #cursor = logStart();
  #catching: Promise<void> | null = null;
  readonly #channelTries = new Map<string, { trie: IdTrie<string>; cursor: number }>();
  /** Sessions started; each begins its walk one top range further on. */
  #sessions = 0;
  /** Set while a reconciliation session runs: the trie must not change under it. */
  #frozen = false;

  constructor(store: RegionStore) {
    this.#store = store;
  }

  /** How many region-log entries the index reflects (its position, summed over shards). */
  get logCursor(): number {
    return logTotal(this.#cursor);
  }

  get size(): number {
    return this.#trie.size;
  }

  /** True when the index holds this id (it may lag the store, never lead it). */
  has(id: string): boolean {
    const bytes = decodeBase64Url(id);
    return bytes !== null && bytes.length === 32 && this.#trie.has(bytes);
  }

  /** Fingerprint of the region's whole delta set (as of `logCursor`). */
  fingerprint(): string {
    return this.#ids.fingerprint();
  }

  /** Folds in what the log gained since the last call (skipped while a session runs). */
  catchUp(): Promise<void> {
    if (this.#frozen) return Promise.resolve();
    this.#catching ??= this.#readLog().finally(() => this.#catching = null);
    return this.#catching;
  }

  /**
   * Reads each shard up to the head it had when the call began, a page at a time, folding every
   * page into the trie before the next is read: everything committed before the call is folded in.
   */
  async #readLog(): Promise<void> {
    const sizeBefore = this.#trie.size;
    await this.#readLogTo(await this.#store.logHeads());
    if (this.#trie.size - sizeBefore >= INDEX_COMPACT_IDS_MIN) this.#trie.compact();
  }

  async #readLogTo(heads: readonly number[]): Promise<void> {
    for (const [shard, head] of heads.entries()) {
      while (this.#cursor[shard] < head) {
        const page = await this.#store.listLog(shard, this.#cursor[shard], INDEX_CATCHUP_PAGE);
        for (const entry of page.entries) {
          const id = decodeBase64Url(entry.id)!;
          if (this.#trie.add(id, entry.channel)) this.#ids.add(id);
        }
        const moved = page.cursor > this.#cursor[shard];
        this.#cursor[shard] = Math.max(this.#cursor[shard], page.cursor);
        if (!page.more || !moved) break;
      }
    }
  }

  /** Answers one reconciliation frame, region-wide or for one channel's deltas. */
  async respond(frame: Uint8Array, channel?: string): Promise<Uint8Array> {
    const trie = channel === undefined
      ? (await this.catchUp(), this.#trie)
      : await this.#channelTrie(channel);
    try {
      return respond(trie, frame);
    } catch (error) {
      if (error instanceof SyncFrameError) {
        throw new Problem("invalid-request", `sync frame: ${error.message}`);
      }
      throw error;
    }
  }

  /**
   * The envelopes of the given ids or 16-byte id prefixes (base64url), at most SYNC_FETCH_IDS_MAX.
   * Leaves out the deltas of channels `hidden` names (the open `/v1/sync/fetch` hides private
   * ones: mailboxes, members-only channels; regions fetch everything by signed `/v1/peer/fetch`).
   */
  async fetch(
    ids: readonly string[],
    hidden: (channel: string) => boolean = () => false,
  ): Promise<{ body: string; sig: string }[]> {
    const bytes = ids.map((text) => {
      const b = decodeBase64Url(text);
      if (b === null || (b.length !== 16 && b.length !== 32)) {
        throw new Problem("invalid-request", "ids must be 16- or 32-byte base64url strings");
      }
      return b;
    });
    await this.catchUp();
    const entries = resolveIds(this.#trie, bytes, SYNC_FETCH_IDS_MAX)
      .filter((e) => !hidden(e.value));
    const records = await Promise.all(
      entries.map((e) => this.#store.getDelta(e.value, encodeBase64Url(e.id))),
    );
    const envelopes = records.filter((r): r is StoredDelta => r !== null)
      .map(({ body, sig }) => ({ body, sig }));
    // One answer stays within one message's worth of bytes; the rest comes next session.
    return envelopeBatches(envelopes)[0] ?? [];
  }

  /**
   * One anti-entropy session with `peer`: reconcile, pull what we lack, push what it lacks.
   * The session's work is bounded (rounds, outstanding ranges, frame bytes, time: see
   * `Reconciler` and `SYNC_SESSION_*`); a peer that breaks a bound or the protocol gets a result
   * with `penalty` set, and the caller backs off from it.
   */
  async reconcileWith(peer: RegionInfo, ctx: SessionContext): Promise<SessionResult> {
    await this.catchUp();
    this.#frozen = true;
    const startedMs = ctx.now();
    let rounds = 0, bytes = 0;
    const have: Uint8Array[] = [], need: Uint8Array[] = [];
    const failed = (error: string, penalty?: string): SessionResult => ({
      ok: false,
      rounds,
      bytes,
      pulled: 0,
      pushed: 0,
      error,
      penalty,
    });
    try {
      const session = new Reconciler(this.#trie, {
        roundsMax: SYNC_SESSION_ROUNDS_MAX,
        differencesMax: 2 * SYNC_SESSION_DELTAS_MAX,
        startAt: this.#sessions++,
      });
      let frame: Uint8Array | null = session.start();
      while (frame !== null) {
        const { response, answer } = await round(peer, frame, ctx);
        rounds++;
        bytes += frame.length + (answer?.length ?? 0);
        if (!response.ok) return failed(`sync answered ${response.status}`);
        if (answer === null) return failed("sync answer over the frame limit", "oversize");
        const step = session.receive(answer);
        // Nothing is left out on a peer's word: both halves of an equivocation are stored
        // everywhere, so every id either side holds converges.
        have.push(...step.have.slice(0, SYNC_SESSION_DELTAS_MAX - have.length));
        need.push(...step.need.slice(0, SYNC_SESSION_DELTAS_MAX - need.length));
        frame = step.next;
        if (frame !== null && ctx.now() - startedMs > SYNC_SESSION_MS_MAX) {
          return failed(`sync session over ${SYNC_SESSION_MS_MAX} ms: abandoned`, "time");
        }
      }
      if (session.cut === "rounds") {
        return failed(`sync session over ${SYNC_SESSION_ROUNDS_MAX} rounds: abandoned`, "rounds");
      }
      const pushing = have.map((id) => ({ id, channel: this.#trie.get(id)! }));
      this.#frozen = false;
      const pulled = await this.#pull(peer, need, ctx);
      const pushed = await this.#push(peer, pushing, ctx);
      return { ok: true, rounds, bytes, pulled, pushed };
    } catch (error) {
      const message = (error as Error).message;
      if (error instanceof SyncBudgetError) return failed(message, error.budget);
      if (error instanceof SyncFrameError) return failed(message, "protocol");
      return failed(message);
    } finally {
      this.#frozen = false;
    }
  }

  async #pull(peer: RegionInfo, need: Uint8Array[], ctx: SessionContext): Promise<number> {
    let pulled = 0;
    for (let i = 0; i < need.length; i += SYNC_FETCH_IDS_MAX) {
      const ids = need.slice(i, i + SYNC_FETCH_IDS_MAX).map(encodeBase64Url);
      const answer = await ctx.client.send(
        peer,
        "/v1/peer/fetch",
        "fetch",
        ctx.epoch,
        { ids },
        fetchAnswerSchema,
      );
      if (!answer.ok) throw new Error(`sync fetch failed: ${answer.error}`);
      // Only what was asked for: a repair is a delta this session found missing here.
      const wanted = new Set(ids);
      const deltas = answer.body.deltas.filter((d) => asked(wanted, envelopeId(d)));
      const { accepted, evidence } = await ingest(
        deltas,
        this.#store,
        ctx.verify,
        ctx.now(),
        {
          origin: repairOrigin(ctx.zone, peer),
          known: (id) => this.has(id),
          admission: ctx.admission,
        },
      );
      pulled += accepted.length + evidence.length;
      await ctx.onStored?.([...accepted, ...evidence], peer.id);
    }
    return pulled;
  }

  async #push(
    peer: RegionInfo,
    have: { id: Uint8Array; channel: string }[],
    ctx: SessionContext,
  ): Promise<number> {
    let pushed = 0;
    for (let i = 0; i < have.length; i += SYNC_FETCH_IDS_MAX) {
      const records = await Promise.all(
        have.slice(i, i + SYNC_FETCH_IDS_MAX).map((h) =>
          this.#store.getDelta(h.channel, encodeBase64Url(h.id))
        ),
      );
      const deltas = records.filter((r): r is StoredDelta => r !== null)
        .map(({ body, sig }) => ({ body, sig }));
      for (const batch of envelopeBatches(deltas)) {
        const answer = await ctx.client.send<{ results: DeltaResult[] }>(
          peer,
          "/v1/peer/deltas",
          "deltas",
          ctx.epoch,
          { origin: repairOrigin(ctx.zone, peer), deltas: batch },
        );
        if (!answer.ok) throw new Error(`push to ${peer.id} failed: ${answer.error}`);
        pushed += batch.length;
      }
    }
    return pushed;
  }

  /**
   * The trie of one channel's deltas, for agents catching up on a channel. Kept per instance
   * (bounded LRU) with the arrival cursor it reflects, so a request reads only what arrived since
   * the last one instead of the whole channel. Only channels of at least
   * `SYNC_CHANNEL_TRIE_IDS_MIN` deltas are kept: a request for an empty or small channel costs one
   * page read, takes no entry and evicts nothing.
   */
  async #channelTrie(channel: string): Promise<IdTrie<string>> {
    const cached = this.#channelTries.get(channel);
    const entry = cached ?? { trie: new IdTrie<string>(), cursor: 0 };
    for (;;) {
      const page = await this.#store.listArrivals(channel, entry.cursor, INDEX_CATCHUP_PAGE);
      for (const d of page.deltas) entry.trie.add(decodeBase64Url(d.id)!, channel);
      entry.cursor = Math.max(entry.cursor, page.cursor);
      if (!page.more) break;
    }
    if (cached === undefined && entry.trie.size < SYNC_CHANNEL_TRIE_IDS_MIN) return entry.trie;
    this.#channelTries.delete(channel); // re-insert: Map order is recency order
    this.#channelTries.set(channel, entry);
    for (const oldest of this.#channelTries.keys()) {
      if (this.#channelTries.size <= SYNC_CHANNEL_TRIES_MAX) break;
      this.#channelTries.delete(oldest);
    }
    return entry.trie;
  }
}

/** One reconciliation round trip with `peer`: its answer and the answer's frame (see readFrame). */
function round(peer: RegionInfo, frame: Uint8Array, ctx: SessionContext) {
  const work = async () => {
    const response = await (ctx.fetch ?? fetch)(`${peer.url}/v1/sync`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream", ...traceHeaders() },
      body: frame as Uint8Array<ArrayBuffer>,
      signal: AbortSignal.timeout(SYNC_REQUEST_TIMEOUT_MS),
    });
    return { response, answer: await readFrame(response) };
  };
  if (ctx.telemetry === undefined) return work();
  const attrs = { [names.ATTR_REGION]: ctx.region ?? "", [names.ATTR_PEER]: peer.id };
  return ctx.telemetry.inSpan(names.SPAN_SYNC_ROUND, attrs, async (span) => {
    const done = await work();
    span.setAttribute(names.ATTR_SYNC_BYTES, frame.length + (done.answer?.length ?? 0));
    return done;
  });
}

/** The body of a sync answer, or null when it is larger than a frame may be (read no further). */
async function readFrame(response: Response): Promise<Uint8Array | null> {
  const reader = response.body?.getReader();
  if (reader === undefined) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > SYNC_FRAME_BYTES_MAX) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(length);
  chunks.reduce((at, chunk) => (out.set(chunk, at), at + chunk.length), 0);
  return out;
}

/** Whether delta id `id` is among `ids` (full ids or 16-byte prefixes, base64url). */
function asked(ids: ReadonlySet<string>, id: string | null): boolean {
  if (id === null) return true; // not a delta: ingest rejects it and says why
  return ids.has(id) || ids.has(encodeBase64Url(decodeBase64Url(id)!.subarray(0, 16)));
}
