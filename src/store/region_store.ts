/**
 * The regional store: where one region keeps its delta set. Three implementations share this
 * contract and one conformance suite (`test/store/conformance.ts`): Deno KV (the embedded
 * default), Upstash Redis (shared by many edge instances) and an in-memory one for unit tests.
 */
import type { AuthorHead } from "../protocol/result.ts";
import type { BlobStore } from "./blob_store.ts";

export type { AuthorHead, BlobStore };

/** A verified delta as the store keeps it: the signed envelope plus the fields it is indexed by. */
export interface StoredDelta {
  /** base64url(sha256(body bytes)). */
  readonly id: string;
  readonly channel: string;
  readonly author: string;
  readonly seq: number;
  /** The body text exactly as signed. */
  readonly body: string;
  /** base64url signature over the domain tag followed by the body bytes. */
  readonly sig: string;
}

/** A stored delta with its position in this region's arrival order for its channel (1, 2, ...). */
export interface ArrivedDelta extends StoredDelta {
  readonly arrival: number;
}

/** What happened to one delta handed to {@linkcode RegionStore.putDeltas}. */
export type PutOutcome =
  | { readonly status: "accepted"; readonly arrival: number }
  | { readonly status: "duplicate" }
  /**
   * Same author, channel and seq as a stored delta (`existingId`) with a different body: an
   * equivocation. The delta is stored all the same, as evidence — record, arrival, region-log
   * entry and an {@linkcode Equivocation} in one atomic write — so the delta set stays grow-only
   * and every region that holds both halves quarantines the author alike. The seq slot keeps the
   * first delta, and the author's `contiguous` and `max` do not move (`count` does).
   */
  | { readonly status: "equivocation"; readonly arrival: number; readonly existingId: string };

/**
 * One equivocation the store holds both halves of: written with the second half, in the same
 * atomic write. Numbered in the order they were stored, region-wide: 1, 2, 3, ... above every
 * entry a store written before the log was sharded holds (those were numbered by their second
 * half's region-log entry, with gaps), so a follower's cursor goes on across an upgrade.
 */
export interface Equivocation {
  readonly n: number;
  readonly author: string;
  readonly channel: string;
  readonly seq: number;
  /** The delta stored with this entry. */
  readonly id: string;
  /** The delta that held the seq slot already. */
  readonly existingId: string;
}

export interface EquivocationPage {
  readonly entries: readonly Equivocation[];
  /** `n` of the last entry returned, or `after` when none were. */
  readonly cursor: number;
  readonly more: boolean;
}

/** A page of a channel's deltas in arrival order. */
export interface ArrivalPage {
  readonly deltas: readonly ArrivedDelta[];
  /** The arrival number of the last delta returned, or `after` when none were. */
  readonly cursor: number;
  /** True when deltas after `cursor` exist. */
  readonly more: boolean;
}

/**
 * Where an accepted delta came from, as recorded in the region log. Fan-out uses it to decide
 * where the delta goes next (see src/region/fan_out.ts): a delta is relayed at most once by each
 * region, so relayed deltas never echo back and forth.
 */
export type DeltaOrigin =
  /** Pushed by an agent to this region. */
  | "agent"
  /** Relayed by a region of this region's zone. */
  | "zone"
  /** Relayed across zones by another zone's leader. */
  | "remote"
  /** Relayed by this region's own zone leader from another zone; never fanned out again. */
  | "relay"
  /**
   * Repaired by anti-entropy by a region that labels its repairs so (earlier versions); never
   * fanned out. Repairs are now logged as the peer's relay would be (`zone` or `remote`:
   * src/mesh/region_index.ts, `repairOrigin`), so fan-out passes them on.
   */
  | "sync";

/**
 * One entry of the region log: every accepted delta of every channel, in commit order within
 * its shard (`region_log.ts` says which shard an entry goes to, and why).
 */
export interface LogEntry {
  /** The shard: 0 to `LOG_SHARDS - 1`. */
  readonly shard: number;
  /** Position in the shard: 1, 2, 3, ... without gaps. */
  readonly n: number;
  readonly channel: string;
  readonly id: string;
  readonly origin: DeltaOrigin;
}

export interface LogPage {
  readonly entries: readonly LogEntry[];
  /** `n` of the last entry returned, or `after` when none were. */
  readonly cursor: number;
  readonly more: boolean;
}

/**
 * A leadership lease. `epoch` rises by one each time the lease changes hands (or is taken after
 * expiry) and never otherwise; it is the fencing token a leader puts on its messages.
 */
export interface Lease {
  readonly holder: string;
  readonly epoch: number;
  /** Wall-clock ms since the epoch after which the lease is free. */
  readonly expiresAtMs: number;
}

/**
 * One draw from a token bucket: `cost` tokens from the bucket named `bucket`, which holds at most
 * `burst` tokens and refills at `ratePerSecond` tokens per second of the caller's clock. A missing
 * bucket is full. A caller may pass a smaller `burst` or rate than before (a throttled subject);
 * the bucket then holds at most the smaller burst.
 */
export interface TokenRequest {
  /** 1 to 256 characters, e.g. `push:addr:203.0.113.7`. */
  readonly bucket: string;
  /**
   * Tokens to take; finite, non-zero, at most `burst` in size. A negative cost gives tokens back
   * (a refund, always allowed; the bucket still holds at most `burst`).
   */
  readonly cost: number;
  /** Refill rate in tokens per second; finite and > 0. */
  readonly ratePerSecond: number;
  /** Capacity in tokens; finite and ≥ `|cost|`. */
  readonly burst: number;
}

/** The answer to one {@linkcode TokenRequest}. */
export interface TokenGrant {
  /** True when the tokens were taken; false leaves the bucket as it was. */
  readonly allowed: boolean;
  /** When refused: ms of the caller's clock until the bucket holds `cost` (≥ 1); else 0. */
  readonly retryAfterMs: number;
  /** Whole tokens left in the bucket after the call. */
  readonly remaining: number;
}

/** Thrown by a store that cannot be reached or fails mid-operation; the region answers 503. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/**
 * A key of the store index: a tuple of strings (no NUL), ordered element by element by UTF-8
 * bytes, a key before every longer key it is a prefix of. Features keep what they derive from
 * the delta set there (e.g. the registry's discovery index); it is never replicated.
 */
export type IndexKey = readonly string[];

export interface IndexEntry {
  readonly key: IndexKey;
  readonly value: string;
}

/** One atomic change of the store index. */
export interface IndexWrite {
  /** The write applies only if each of these keys holds exactly `value` (null: absent). */
  readonly expect?: readonly { readonly key: IndexKey; readonly value: string | null }[];
  readonly set?: readonly IndexEntry[];
  readonly delete?: readonly IndexKey[];
}

export interface IndexPage {
  readonly entries: readonly IndexEntry[];
  /** True when more entries under the prefix follow the last one returned. */
  readonly more: boolean;
}

export interface IndexListOptions {
  /** Entries strictly after this key (before it, with `reverse`): the last key of a page. */
  readonly after?: IndexKey;
  /**
   * At most this many entries (capped by `INDEX_PAGE_ENTRIES_MAX`); a store may return fewer,
   * with `more`, to bound a page's bytes.
   */
  readonly limit: number;
  /** Descending key order. Default false. */
  readonly reverse?: boolean;
}

/** Most requests one `takeTokensMany` call may carry (a push charges one per delta). */
export const TOKEN_REQUESTS_MAX = 1_024;
/** Most cursors one `getCursors` call may read (a peer's fan-out cursors, one per log shard). */
export const CURSORS_READ_MAX = 256;
/** Most channels one `arrivalCounts` call may ask about (a page of `GET /v1/channels`). */
export const ARRIVAL_COUNTS_CHANNELS_MAX = 1_000;
/** Most channels one `changeMarks` call may ask about (one store read). */
export const CHANGE_MARKS_CHANNELS_MAX = 8;

/** What {@linkcode RegionStore.changeMarks} read, at one instant of the store. */
export interface ChangeMarks {
  /** Per channel asked about, in order, its last arrival number (as `arrivalCounts`). */
  readonly arrivals: readonly number[];
  /**
   * A mark that rises whenever an equivocation is stored (the last one's number, or on a Deno KV
   * store written before issue 13, the counter of those stored since); equal marks: none between.
   */
  readonly equivocations: number;
}

export interface RegionStore {
  /** Short name for logs and telemetry, e.g. `"denokv"`. */
  readonly kind: string;
  /** Content-addressed blobs, chunked to the store's limits (`blob_store.ts`). */
  readonly blobs: BlobStore;
  /**
   * Stores each delta with its author head, seq slot and arrival index entry in one atomic write,
   * and returns one outcome per input, in input order. Idempotent: a delta already stored, or
   * repeated within `deltas`, is `duplicate`; a second body for a taken seq is stored too, as
   * `equivocation`. Deltas must already be verified. When the store
   * fails, throws {@linkcode StoreUnavailableError}; every delta is then either wholly stored or
   * not at all (a retry reports the stored ones as `duplicate`). Each accepted delta is also
   * appended to the region log with `origin` (default `"agent"`) in the same atomic write, in the
   * shard `region_log.ts` names.
   */
  putDeltas(deltas: readonly StoredDelta[], origin?: DeltaOrigin): Promise<PutOutcome[]>;
  /**
   * Up to `limit` equivocations with `n` greater than `after`, in order: the authors this
   * region's delta set proves to have signed two deltas with one channel and seq.
   */
  listEquivocations(after: number, limit: number): Promise<EquivocationPage>;
  /** The delta with this id in this channel, or null. */
  getDelta(channel: string, id: string): Promise<StoredDelta | null>;
  /** Up to `limit` deltas of `channel` with arrival number greater than `after`, in arrival order. */
  listArrivals(
    channel: string,
    after: number,
    limit: number,
  ): Promise<ArrivalPage>;
  /**
   * Per channel, in order, its last arrival number: the number of deltas stored in it (arrival
   * numbers have no gaps), 0 when none. One round trip per call where the store allows; at most
   * {@linkcode ARRIVAL_COUNTS_CHANNELS_MAX} channels.
   */
  arrivalCounts(channels: readonly string[]): Promise<number[]>;
  /**
   * In one round trip, at one instant of the store: each channel's last arrival and the
   * equivocations' mark. A delta at or below its channel's mark that is the second half of an
   * equivocation was stored with it (one atomic write), so a reader caught up with the
   * equivocations as of that mark knows its author. Lets a reader skip the list reads of what has
   * not moved. At most {@linkcode CHANGE_MARKS_CHANNELS_MAX} channels.
   */
  changeMarks(channels: readonly string[]): Promise<ChangeMarks>;
  /** The author's head in the channel, or null when nothing of theirs is stored there. */
  getHead(channel: string, author: string): Promise<AuthorHead | null>;
  /** Up to `limit` entries of log shard `shard` with `n` greater than `after`, in order. */
  listLog(shard: number, after: number, limit: number): Promise<LogPage>;
  /** Per log shard, in shard order (`LOG_SHARDS` of them), `n` of its last entry (0: none). */
  logHeads(): Promise<number[]>;
  /** How many entries the region log holds: the sum of `logHeads()`. */
  logHead(): Promise<number>;
  /** A named cursor (e.g. a peer's fan-out progress); 0 when never set. */
  getCursor(name: string): Promise<number>;
  /** Named cursors, in order, 0 for those never set; at most {@linkcode CURSORS_READ_MAX}. */
  getCursors(names: readonly string[]): Promise<number[]>;
  /** Moves a named cursor forward to `n`; never moves it back. Returns the cursor after. */
  advanceCursor(name: string, n: number): Promise<number>;
  /**
   * Takes or renews the lease `name` for `holder` at wall time `nowMs` for `ttlMs`, atomically:
   * granted when the lease is free, expired, or already `holder`'s (a renewal keeps the epoch;
   * a new holder gets epoch + 1). Returns the lease as it stands after the call, so the caller
   * leads iff `lease.holder === holder`.
   */
  acquireLease(name: string, holder: string, ttlMs: number, nowMs: number): Promise<Lease>;
  /** Gives the lease up if `holder` holds it (so a successor need not wait for expiry). */
  releaseLease(name: string, holder: string): Promise<void>;
  /** The lease as it stands, or null when never taken. */
  getLease(name: string): Promise<Lease | null>;
  /**
   * Claims `nonce` for `ttlMs` from wall time `nowMs`, atomically: true the first time, false
   * while an earlier claim lives, for every instance sharing the store. Region messages claim
   * their nonce here, so a replay to any instance of the region is refused.
   */
  claimNonce(nonce: string, ttlMs: number, nowMs: number): Promise<boolean>;
  /**
   * Takes `cost` tokens from `bucket` at the caller's wall time `nowMs`, atomically: concurrent
   * takers (in this instance or any other on the same store) never get more than the bucket
   * holds. Refill is computed from the caller's clock and never runs backwards: a `nowMs` earlier
   * than the bucket's last update adds nothing. Buckets nobody drew from for long enough to be full
   * again may be forgotten (they read as full). Region-local abuse control, never replicated.
   *
   * Many requests go in one store round trip, applied in order: requests
   * on one bucket see the earlier ones' draws. Each request is atomic on its own; a refused one
   * does not refuse the others. At most {@linkcode TOKEN_REQUESTS_MAX} requests.
   */
  takeTokensMany(requests: readonly TokenRequest[], nowMs: number): Promise<TokenGrant[]>;
  /**
   * Applies `write` atomically, for every instance sharing the store: true when applied; false,
   * writing nothing, when an `expect` did not hold. Limits in `_index_args.ts`.
   */
  writeIndex(write: IndexWrite): Promise<boolean>;
  /** The values at `keys`, in order, null where absent. */
  readIndex(keys: readonly IndexKey[]): Promise<(string | null)[]>;
  /** The entries whose key starts with `prefix` (all, for `[]`), in key order, paged. */
  listIndex(prefix: IndexKey, options: IndexListOptions): Promise<IndexPage>;
  /** Checks that the store answers; throws {@linkcode StoreUnavailableError} when it does not. */
  ping(): Promise<void>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}

/** Draws `cost` tokens from one bucket: `takeTokensMany` with one request. */
export async function takeTokens(
  store: RegionStore,
  bucket: string,
  cost: number,
  ratePerSecond: number,
  burst: number,
  nowMs: number,
): Promise<TokenGrant> {
  const [grant] = await store.takeTokensMany([{ bucket, cost, ratePerSecond, burst }], nowMs);
  return grant;
}
