/**
 * The regional store: where one region keeps its delta set. Three implementations share this
 * contract and one conformance suite (`test/store/conformance.ts`): Deno KV (the embedded
 * default), Upstash Redis (shared by many edge instances) and an in-memory one for unit tests.
 */

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
  /** Same author, channel and seq as a stored delta with a different body; the first one stays. */
  | { readonly status: "seq_conflict"; readonly existingId: string };

/** One author's progress in one channel. */
export interface AuthorHead {
  /** Highest seq such that 1..contiguous are all stored (0 when seq 1 is missing). */
  readonly contiguous: number;
  /** Highest seq stored. */
  readonly max: number;
  /** How many of this author's deltas are stored in the channel. */
  readonly count: number;
}

/** A page of a channel's deltas in arrival order. */
export interface ArrivalPage {
  readonly deltas: readonly ArrivedDelta[];
  /** The arrival number of the last delta returned, or `after` when none were. */
  readonly cursor: number;
  /** True when deltas after `cursor` exist. */
  readonly more: boolean;
}

/** Thrown by a store that cannot be reached or fails mid-operation; the region answers 503. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

export interface RegionStore {
  /** Short name for logs and telemetry, e.g. `"denokv"`. */
  readonly kind: string;
  /**
   * Stores each delta with its author head, seq slot and arrival index entry in one atomic write,
   * and returns one outcome per input, in input order. Idempotent: a delta already stored, or
   * repeated within `deltas`, is `duplicate`. Deltas must already be verified. When the store
   * fails, throws {@linkcode StoreUnavailableError}; every delta is then either wholly stored or
   * not at all (a retry reports the stored ones as `duplicate`).
   */
  putDeltas(deltas: readonly StoredDelta[]): Promise<PutOutcome[]>;
  /** The delta with this id in this channel, or null. */
  getDelta(channel: string, id: string): Promise<StoredDelta | null>;
  /** Up to `limit` deltas of `channel` with arrival number greater than `after`, in arrival order. */
  listArrivals(
    channel: string,
    after: number,
    limit: number,
  ): Promise<ArrivalPage>;
  /** The author's head in the channel, or null when nothing of theirs is stored there. */
  getHead(channel: string, author: string): Promise<AuthorHead | null>;
  /** Checks that the store answers; throws {@linkcode StoreUnavailableError} when it does not. */
  ping(): Promise<void>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}
