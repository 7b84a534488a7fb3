/**
 * The signed region-to-region endpoints, which any instance of a region serves: relayed deltas
 * (re-verified and stored like any push) and heartbeats. Every request is a checked region
 * message (signature, recipient, clock, nonce claimed in the store, epoch fencing) and every
 * answer is signed and bound to the request it answers.
 */
import { z } from "zod";
import type { AgentKey } from "../crypto/agent_key.ts";
import type { AdmissionPolicy } from "../guard/admission.ts";
import type { Delta } from "../protocol/delta.ts";
import type { VerifyFn } from "../protocol/result.ts";
import { ingest } from "../region/ingest.ts";
import type { DeltaOrigin, RegionStore } from "../store/region_store.ts";
import { names, type Telemetry } from "../telemetry/mod.ts";
import { channelWatchOf } from "../views/channel_watch.ts";
import { FANOUT_BATCH_DELTAS_MAX } from "./fan_out.ts";
import {
  answerHead,
  checkRegionMessage,
  type MessageHead,
  type MessageRejection,
  ReplayGuard,
  type SignedBody,
  signRegionAnswer,
  staleEpochDetail,
} from "./region_message.ts";
import { type RegionIndex, type StoredHook, SYNC_FETCH_IDS_MAX } from "./region_index.ts";
import type { RegionInfo, Topology } from "./topology.ts";

/**
 * Lease periods a higher epoch must stay silent before a lower one of the same region is admitted
 * again (its store was reset). Regions of a mesh are expected to use the same lease length.
 */
export const EPOCH_FENCE_LEASES = 4;
/**
 * Messages with more deltas than this bring the region index up to date before their ingest, so
 * deltas already stored are not verified again; smaller ones (eager forwards) skip that read.
 */
export const INDEX_CATCHUP_MIN_DELTAS = 8;
/** Most deltas one `/v1/peer/deltas` message may carry. */
export const PEER_DELTAS_MAX = FANOUT_BATCH_DELTAS_MAX;

/** A region's summary, as heartbeats carry it. */
export interface Summary {
  readonly region: string;
  readonly epoch: number;
  readonly logHead: number;
  readonly deltas: number;
  readonly fingerprint: string;
  /** Regions this region currently reaches (itself included). */
  readonly reachable: string[];
  readonly partition: "majority" | "minority";
}

export const summarySchema = z.strictObject({
  region: z.string().max(32),
  epoch: z.number().int().min(0),
  logHead: z.number().int().min(0),
  deltas: z.number().int().min(0),
  fingerprint: z.string().max(64),
  reachable: z.array(z.string().max(32)).max(256),
  partition: z.enum(["majority", "minority"]),
});

export const heartbeatSchema = z.object({ summary: summarySchema });
const peerDeltasSchema = z.object({
  origin: z.enum(["zone", "remote", "relay", "sync"]),
  deltas: z.array(z.unknown()).max(PEER_DELTAS_MAX),
});

const peerFetchSchema = z.object({
  ids: z.array(z.string()).max(SYNC_FETCH_IDS_MAX),
});

/** An answer to a region message: the body text and its `mesh-signature` header value. */
export type SignedAnswer = SignedBody;

/** Store checks of an accepted region message that `#accept` left to its caller. */
interface Deferred {
  /** Starts the nonce claim: false for a message this region already received. */
  claim?: () => Promise<boolean>;
  /** The epoch fence, running: rejects with the `stale_epoch` refusal. */
  fence?: Promise<void>;
}

/** A refused region message, for the HTTP layer (403 for identity, 409 for fencing, 400 else). */
export class RegionMessageRefused extends Error {
  constructor(readonly reason: MessageRejection, detail: string) {
    super(detail);
    this.name = "RegionMessageRefused";
  }
}

export interface PeerInboxDeps {
  readonly self: RegionInfo;
  readonly topology: Topology;
  readonly key: AgentKey;
  readonly store: RegionStore;
  readonly index: RegionIndex;
  readonly verify: VerifyFn;
  readonly admission?: AdmissionPolicy;
  readonly now: () => number;
  readonly telemetry: Telemetry;
  /** This region's lease length, in ms (epoch fencing counts in lease periods). */
  readonly leaseTtlMs: number;
  /** This region's summary as of now (the answer to a heartbeat). */
  summary(): Promise<Summary>;
  /** Records the summary a peer's heartbeat carried. */
  noteSummary(from: string, summary: Summary): void;
  /** Told of the deltas a peer relayed here and stored, with the peer's id. */
  readonly onStored?: StoredHook;
  /** Told of relayed deltas as their store write starts, with their origin (eager forwarding). */
  readonly onAdmitted?: (deltas: readonly Delta[], origin: DeltaOrigin) => void;
}

export class PeerInbox {
  readonly #d: PeerInboxDeps;
  readonly #replay = new ReplayGuard();
  /** Per sender: the epoch this instance fences with, and when it was last heard. */
  readonly #fences = new Map<string, { epoch: number; heardAtMs: number; stored: number }>();

  constructor(deps: PeerInboxDeps) {
    this.#d = deps;
  }

  /**
   * `POST /v1/peer/deltas`: deltas relayed by another region, re-verified and stored; answered
   * with a signed answer (see SignedAnswer) carrying one result per delta, in order.
   */
  onPeerDeltas(body: string, signature: string | null): Promise<SignedAnswer> {
    return this.#d.telemetry.inSpan(
      names.SPAN_PEER_DELTAS,
      { [names.ATTR_REGION]: this.#d.self.id },
      async (span) => {
        // Relayed deltas are signed by their authors and a replay of stored ones is a duplicate,
        // so the nonce is claimed in the store after they are written, not before: the store runs
        // one process's operations one after another (bench/kv_queue.ts), and the claim's commit
        // would otherwise sit in front of theirs. A replay is still refused, after the fact. The
        // epoch fence's verdict (a store read started with the checks) is awaited only before the
        // write: a deposed leader's message still stores and forwards nothing.
        const deferred: Deferred = {};
        const message = await this.#accept(body, signature, "deltas", peerDeltasSchema, deferred);
        const sender = this.#d.topology.region(message.from)!;
        span.setAttributes({ [names.ATTR_PEER]: sender.id, [names.ATTR_ORIGIN]: message.origin });
        let outcome: Awaited<ReturnType<typeof ingest>>;
        try {
          outcome = await this.#ingestRelayed(message, sender, deferred);
          await this.#d.onStored?.([...outcome.accepted, ...outcome.evidence], sender.id);
        } catch (error) {
          // Refused on its merits (its epoch, its origin), its replay is refused the same way;
          // after any other failure (the store's) its nonce is claimed, so that a replay is too.
          if (!(error instanceof RegionMessageRefused)) deferred.claim?.().catch(() => {});
          throw error;
        }
        // A view these deltas woke issues its read of the channel's marks in this turn; the
        // claim's commit waits for the next, so as not to sit in front of that read.
        if (outcome.accepted.length > 0 && channelWatchOf(this.#d.store).size > 0) {
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        if (!(await deferred.claim?.() ?? true)) {
          throw new RegionMessageRefused(
            "replayed",
            "this message was already received by this region",
          );
        }
        span.setAttributes({
          [names.ATTR_PUSH_DELTAS]: message.deltas.length,
          [names.ATTR_PUSH_ACCEPTED]: outcome.accepted.length,
        });
        this.#recordRelay(sender.id, message.origin, outcome);
        return this.#answer(message, body, { results: outcome.results });
      },
    );
  }

  /** Checks a relayed message's origin against its sender's zone, then ingests its deltas. */
  async #ingestRelayed(
    message: z.infer<typeof peerDeltasSchema> & MessageHead,
    sender: RegionInfo,
    deferred: Deferred,
  ) {
    const sameZone = sender.zone === this.#d.self.zone;
    const allowed: DeltaOrigin[] = sameZone ? ["zone", "relay", "sync"] : ["remote", "sync"];
    if (!allowed.includes(message.origin)) {
      throw new RegionMessageRefused(
        "bad_message",
        `origin "${message.origin}" is not allowed from region "${sender.id}"`,
      );
    }
    // The index only spares re-verifying deltas already stored (the store answers `duplicate`
    // either way), so a small message — a hop's forward — does not wait for its log read. A
    // larger one (a backlog, a repair) does: there it saves verifications. Awaited, not left
    // running: the catch-up is shared by concurrent requests, and an edge runtime (workerd)
    // refuses a request's awaiting I/O another request started.
    if (message.deltas.length > INDEX_CATCHUP_MIN_DELTAS) {
      // Nor does it verify a large message before its fence: a deposed leader's costs no checks.
      await deferred.fence;
      await this.#d.index.catchUp();
    }
    return await ingest(message.deltas, this.#d.store, this.#d.verify, this.#d.now(), {
      origin: message.origin,
      known: (id) => this.#d.index.has(id),
      admission: this.#d.admission,
      telemetry: this.#d.telemetry,
      onAdmitted: (deltas) => this.#d.onAdmitted?.(deltas, message.origin),
      beforeCommit: async () => await deferred.fence,
    });
  }

  /** Counts a relayed batch's outcomes, and the propagation lag of each delta it newly stored. */
  #recordRelay(peer: string, origin: DeltaOrigin, outcome: Awaited<ReturnType<typeof ingest>>) {
    const { telemetry, self, store } = this.#d;
    const base = { [names.ATTR_REGION]: self.id, [names.ATTR_ORIGIN]: origin };
    for (const r of outcome.results) {
      telemetry.deltasIngested.add(1, {
        ...base,
        [names.ATTR_STORE_KIND]: store.kind,
        [names.ATTR_OUTCOME]: r.status,
        ...(r.status === "rejected" ? { [names.ATTR_REASON]: r.reason } : {}),
      });
    }
    const nowMs = this.#d.now();
    for (const delta of outcome.accepted) {
      const lagS = Math.max(0, nowMs - delta.ts) / 1000;
      telemetry.propagationLag.record(lagS, { ...base, [names.ATTR_PEER]: peer });
    }
  }

  /**
   * `POST /v1/peer/fetch`: another region pulling deltas by id after reconciling with this one;
   * answered signed, mailboxes included (the public `/v1/sync/fetch` leaves those out).
   */
  async onPeerFetch(body: string, signature: string | null): Promise<SignedAnswer> {
    const message = await this.#accept(body, signature, "fetch", peerFetchSchema);
    const deltas = await this.#d.index.fetch(message.ids);
    return this.#answer(message, body, { deltas });
  }

  /** `POST /v1/peer/heartbeat`: a peer leader's heartbeat; answered with our own summary. */
  async onHeartbeat(body: string, signature: string | null): Promise<SignedAnswer> {
    const message = await this.#accept(body, signature, "heartbeat", heartbeatSchema);
    this.#d.noteSummary(message.from, message.summary);
    // Detectors count only answers to our own heartbeats: one stream at the heartbeat period.
    return this.#answer(message, body, { summary: await this.#d.summary() });
  }

  /**
   * The signed answer to an accepted `request` (body text `requestBody` as received): from this
   * region to the sender, bound to the request's nonce and body bytes. Any instance may sign it.
   */
  #answer(
    request: MessageHead,
    requestBody: string,
    fields: Record<string, unknown>,
  ): Promise<SignedAnswer> {
    return signRegionAnswer((b) => this.#d.key.signAsync(b), {
      ...answerHead(request, requestBody),
      ...fields,
    });
  }

  #verifyContext<T>(kind: string, schema: z.ZodType<T>) {
    // The fence's store read runs beside the signature check instead of after it.
    let epochRead: { region: string; stored: Promise<number> } | undefined;
    return {
      kind,
      topology: this.#d.topology,
      self: this.#d.self.id,
      nowMs: this.#d.now(),
      replay: this.#replay,
      schema,
      verify: this.#d.verify,
      senderKnown: (region: string) => {
        const stored = this.#d.store.getCursor(`epoch:${region}`);
        stored.catch(() => {}); // awaited by admitEpoch if the message gets that far
        epochRead = { region, stored };
      },
      admitEpoch: (region: string, epoch: number) =>
        this.#admitEpoch(
          region,
          epoch,
          epochRead?.region === region ? epochRead.stored : undefined,
        ),
      claimNonce: (key: string, ttlMs: number) =>
        this.#d.store.claimNonce(key, ttlMs, this.#d.now()),
    };
  }

  /**
   * Checks a region message (its epoch included, see #admitEpoch). With `deferred`, the epoch
   * fence is left running and the store's nonce claim left for the caller to start: the caller
   * must await the fence before acting on the message, and start and await the claim before
   * answering it.
   */
  async #accept<T>(
    body: string,
    signature: string | null,
    kind: string,
    schema: z.ZodType<T>,
    deferred?: Deferred,
  ) {
    const context = this.#verifyContext(kind, schema);
    const checked = await checkRegionMessage(
      body,
      signature,
      deferred === undefined ? context : {
        ...context,
        claimNonce: (key: string, ttlMs: number) => {
          deferred.claim = () => context.claimNonce(key, ttlMs);
          return Promise.resolve(true);
        },
        admitEpoch: (region: string, epoch: number) => {
          deferred.fence = context.admitEpoch(region, epoch).then((admitted) => {
            if (!admitted) {
              throw new RegionMessageRefused("stale_epoch", staleEpochDetail(region, epoch));
            }
          });
          deferred.fence.catch(() => {}); // awaited by the caller; handled if it never gets there
          return Promise.resolve(true);
        },
      },
    );
    if (!checked.ok) throw new RegionMessageRefused(checked.reason, checked.detail);
    return checked.message;
  }

  /**
   * Epoch fencing. A message whose epoch is below the highest seen from its region comes from
   * a deposed leader — while that higher epoch is alive. Leaders stop acting when their lease
   * expires, so once the higher epoch has not been heard for EPOCH_FENCE_LEASES lease periods,
   * a lower epoch can only mean the region's store was reset (epochs restart at 1): it is
   * admitted, or the region would be fenced off for ever. The highest epoch is kept in the
   * store (written only when it rises: a durable write per message would cost a disk sync).
   */
  async #admitEpoch(region: string, epoch: number, read?: Promise<number>): Promise<boolean> {
    const stored = await (read ?? this.#d.store.getCursor(`epoch:${region}`));
    const now = this.#d.now();
    let fence = this.#fences.get(region);
    // Another instance saw a higher epoch since we last looked: fence from it, heard now.
    if (fence === undefined || stored > fence.stored) {
      fence = { epoch: Math.max(stored, fence?.epoch ?? 0), heardAtMs: now, stored };
    }
    if (epoch >= fence.epoch) {
      if (epoch > stored) await this.#d.store.advanceCursor(`epoch:${region}`, epoch);
      this.#fences.set(region, { epoch, heardAtMs: now, stored: Math.max(stored, epoch) });
      return true;
    }
    this.#fences.set(region, fence);
    if (now - fence.heardAtMs < EPOCH_FENCE_LEASES * this.#d.leaseTtlMs) return false;
    // A new lineage of leases (the region's store was reset): fence from its epoch from now on.
    this.#fences.set(region, { epoch, heardAtMs: now, stored });
    return true;
  }
}
