/**
 * The token-bucket rule every store applies atomically, as pure functions of the stored bucket:
 * the in-memory store calls them directly, Deno KV inside a checked commit, and the Upstash store
 * mirrors them in its token script (`TOKEN_SCRIPT`, same arithmetic in the same order, so both
 * compute the same doubles).
 *
 * A bucket is `{tokens, atMs}`: its level at the caller's time `atMs`. At `nowMs` it holds
 * `min(burst, tokens + max(0, nowMs - atMs) * ratePerSecond / 1000)`; a missing bucket is full.
 * Only a granted draw writes, and it writes `atMs = max(atMs, nowMs)`, so a caller whose clock
 * lags another's never refills the same interval twice. A negative cost (a refund) is always
 * granted and never lifts the level above the burst.
 */
import { assertName } from "./_store_args.ts";
import { TOKEN_REQUESTS_MAX, type TokenGrant, type TokenRequest } from "./region_store.ts";

/** A bucket as stored. */
export interface BucketState {
  readonly tokens: number;
  readonly atMs: number;
}

/**
 * How long past "full again" a stored bucket is kept before the store may drop it, in ms. Only
 * garbage collection: a dropped bucket reads as full, exactly what the rule would compute. The
 * margin covers callers whose clocks run behind the store's.
 */
export const TOKEN_BUCKET_TTL_MARGIN_MS = 60_000;
/** Longest a stored bucket is kept, in ms (a tiny rate would otherwise keep it for ever). */
export const TOKEN_BUCKET_TTL_MS_MAX = 7 * 24 * 3_600_000;

/** The result of one draw: the grant, and the bucket to write (null: write nothing). */
export interface Draw {
  readonly grant: TokenGrant;
  readonly write: BucketState | null;
}

/** Draws `request.cost` tokens from `state` (null: a full bucket) at `nowMs`. */
export function drawTokens(state: BucketState | null, request: TokenRequest, nowMs: number): Draw {
  const { cost, ratePerSecond: rate, burst } = request;
  const tokens = state === null ? burst : state.tokens;
  const atMs = state === null ? nowMs : state.atMs;
  const elapsedMs = Math.max(0, nowMs - atMs);
  const level = Math.min(burst, tokens + elapsedMs * rate / 1000);
  if (level >= cost) {
    const left = Math.min(burst, level - cost);
    return {
      grant: { allowed: true, retryAfterMs: 0, remaining: Math.floor(left) },
      write: { tokens: left, atMs: Math.max(atMs, nowMs) },
    };
  }
  // Refused, so `level` was not capped by the burst: it is `tokens + elapsedMs * rate / 1000`.
  // Counting the wait from `tokens` keeps whole-token cases exact in floating point.
  return {
    grant: {
      allowed: false,
      retryAfterMs: Math.max(1, Math.ceil((cost - tokens) * 1000 / rate - elapsedMs)),
      remaining: Math.floor(level),
    },
    write: null,
  };
}

/** How long a bucket just written with `tokens` should be kept, in ms (see the TTL constants). */
export function bucketTtlMs(tokens: number, request: TokenRequest): number {
  const fullInMs = Math.ceil((request.burst - tokens) * 1000 / request.ratePerSecond);
  return Math.min(TOKEN_BUCKET_TTL_MS_MAX, Math.max(0, fullInMs) + TOKEN_BUCKET_TTL_MARGIN_MS);
}

/**
 * Checks a batch of token requests and the caller's clock; a bad one is a programmer bug, so
 * this throws (TypeError for a bad bucket name, RangeError for bad numbers).
 */
export function assertTokenRequests(requests: readonly TokenRequest[], nowMs: number): void {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw new RangeError(`Cannot take tokens as 'nowMs' must be a non-negative integer: ${nowMs}`);
  }
  if (requests.length > TOKEN_REQUESTS_MAX) {
    throw new RangeError(
      `Cannot take tokens for ${requests.length} requests in one call: at most ${TOKEN_REQUESTS_MAX}`,
    );
  }
  for (const { bucket, cost, ratePerSecond, burst } of requests) {
    assertName("token bucket name", bucket);
    if (
      !(Number.isFinite(cost) && cost !== 0) ||
      !(Number.isFinite(ratePerSecond) && ratePerSecond > 0) ||
      !(Number.isFinite(burst) && burst >= Math.abs(cost))
    ) {
      throw new RangeError(
        `Cannot take tokens from "${bucket}" as 'cost' must be non-zero, 'ratePerSecond' positive and 'burst' at least |cost|: cost is ${cost}, ratePerSecond is ${ratePerSecond}, burst is ${burst}`,
      );
    }
  }
}
