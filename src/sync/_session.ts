/**
 * What both reconciliation clients share (`_reconciler.ts`, frame version 2, and
 * `_reconciler_v1.ts`): a session's options, budgets, steps and the error that ends a session a
 * server made too costly. Private to `src/sync/`.
 */

/** Default bound on the requests of one session; what is left waits for the next session. */
export const SYNC_ROUNDS_MAX = 1_024;
/**
 * Default for `differencesMax`: a session stops (incomplete, not failed) once it has reported
 * this many ids (`have` and `need` together), as a region moves at most 2,000 deltas each way a
 * session; the next session finds the rest. This is what keeps an honest session small whatever
 * the difference, so the budgets below can be tight.
 */
export const SYNC_SESSION_DIFFERENCES_MAX = 4_096;
/**
 * Most ranges the client holds outstanding (queued and sent). Measured peaks of honest sessions
 * stopping at `SYNC_SESSION_DIFFERENCES_MAX` (bench/reconcile.ts, bench/sync_dos.ts): version 2,
 * 1,059 for 1M vs 1M differing by 10,000; version 1, 11,431 for an empty client against 1M ids and
 * 3,754 for 1M vs 1M differing by 10,000. A hostile server that answers every sub-cell with a
 * random cell breaks it in round 2 to 4.
 */
export const SYNC_SESSION_RANGES_MAX = 32_768;
/**
 * Most frame bytes, both directions, of one session. Measured peaks of honest sessions stopping at
 * `SYNC_SESSION_DIFFERENCES_MAX`: version 2, 0.41 MB for 1M vs 1M differing by 10,000 (3 rounds);
 * version 1, 1.47 MB there (12 rounds), 0.24 MB for disjoint 100k vs 100k. Unbounded sessions
 * (`differencesMax: Infinity`) must raise it with the difference: ~42 bytes a difference.
 */
export const SYNC_SESSION_BYTES_MAX = 8 * 1_048_576;

/** Client options; defaults on the fields. */
export interface ReconcilerOptions {
  /**
   * Request size cap, bytes: 256..`SYNC_FRAME_V1_BYTES_MAX` (version 1, the default being that)
   * or 1,024..`SYNC_FRAME_BYTES_MAX` (version 2, default `SYNC_CLIENT_FRAME_BYTES`).
   */
  readonly frameBytesMax?: number;
  /** Version 1 only: depth of the first request's ranges, nibbles, 0..3. Default `SYNC_START_NIBBLES`. */
  readonly startNibbles?: number;
  /** Version 2 only: the session's 8-byte fingerprint salt. Default: random (tests fix it). */
  readonly salt?: Uint8Array;
  /** Requests after which the session stops (`complete` stays false). Default `SYNC_ROUNDS_MAX`. */
  readonly roundsMax?: number;
  /**
   * Ids reported (`have` + `need`) after which the session stops (`complete` stays false).
   * Default `SYNC_SESSION_DIFFERENCES_MAX`; `Infinity` to find every difference in one session.
   */
  readonly differencesMax?: number;
  /** Outstanding ranges beyond which `receive` throws `SyncBudgetError`. Default `SYNC_SESSION_RANGES_MAX`. */
  readonly rangesMax?: number;
  /** Frame bytes (both ways) beyond which `receive` throws `SyncBudgetError`. Default `SYNC_SESSION_BYTES_MAX`. */
  readonly bytesMax?: number;
  /**
   * Where in the id space a session that cannot take every difference begins (version 1: which
   * top range the depth-first walk starts at; version 2: which window of the id space a session
   * cut by `differencesMax` reconciles). Default 0. Sessions that rotate it keep a run of
   * differences the peer never takes (it refuses them for good) from hiding, session after
   * session, the differences after it.
   */
  readonly startAt?: number;
}

/** What one response taught the client, and what to send next. */
export interface ReconcileStep {
  /** The next request, or null when the session is over. */
  readonly next: Uint8Array | null;
  /** Full ids the client holds and the server lacks, found in this response. */
  readonly have: Uint8Array[];
  /** Ids the server holds and the client lacks: 16-byte prefixes, or full ids when 32 bytes. */
  readonly need: Uint8Array[];
}

/**
 * The server made the session exceed a budget of work (`ranges` outstanding or frame `bytes`):
 * the session is abandoned. Honest servers stay far within it (see the constants), so this is
 * the server's fault and the caller should back off from that peer.
 */
export class SyncBudgetError extends Error {
  override readonly name = "SyncBudgetError";
  constructor(readonly budget: "ranges" | "bytes", readonly used: number, readonly max: number) {
    super(
      `Cannot continue a reconciliation session the peer has grown to ${used} ${
        budget === "ranges" ? "outstanding ranges" : "frame bytes"
      } (limit ${max}): abandoned`,
    );
  }
}
