/**
 * Tokens an instance has drawn ahead from shared buckets and hands out without asking the store.
 *
 * Every push would otherwise cost two store writes (the address draw, the author draws): on the
 * embedded Deno KV store each is a disk sync, on Upstash a round trip. So when an instance goes to
 * the store anyway, it also asks for a small reserve — a share of the bucket's burst — and serves
 * the next draws of that bucket from it for a short while. The limit is never exceeded, since every
 * token handed out was drawn from the shared bucket; it can only bite a little early, while other
 * instances hold reserves (at most `TOKEN_RESERVE_SHARE` of a burst each, for at most
 * `TOKEN_RESERVE_MS`). What a reserve still holds when it lapses (or when the subject's budget
 * changes) is given back to the store with the next draw of that bucket. A refusal always comes
 * from the store, so `Retry-After` stays exact. Buckets whose share is under one token get no
 * reserve: small limits stay exact.
 *
 * Pure bookkeeping with the caller's clock; bounded.
 */

/** Share of a bucket's burst an instance reserves when it draws from the store. */
export const TOKEN_RESERVE_SHARE = 0.05;
/** How long an instance may hand out a reserve before the rest is dropped, in ms. */
export const TOKEN_RESERVE_MS = 5_000;
/** Buckets one instance holds reserves for (least recently used dropped first). */
export const TOKEN_RESERVE_BUCKETS_MAX = 10_000;

if (!(TOKEN_RESERVE_SHARE > 0 && TOKEN_RESERVE_SHARE < 1)) {
  throw new Error("TOKEN_RESERVE_SHARE must be a share of a burst, in (0, 1)");
}

/** The budget a reserve was drawn under; a reserve drawn under another budget is dropped. */
export interface Budget {
  readonly ratePerSecond: number;
  readonly burst: number;
}

interface Reserve {
  tokens: number;
  readonly untilMs: number;
  readonly budget: Budget;
}

/** The whole tokens to reserve for a bucket of `burst`: 0 when the share is under one token. */
export function reserveSize(burst: number): number {
  return Math.floor(burst * TOKEN_RESERVE_SHARE);
}

export class TokenReserves {
  readonly #reserves = new Map<string, Reserve>();
  /** Tokens of lapsed reserves, to give back to the store with the bucket's next draw. */
  readonly #lapsed = new Map<string, number>();

  /** Buckets with a reserve (live or not yet swept). */
  get size(): number {
    return this.#reserves.size;
  }

  /** Takes `cost` tokens of `bucket` from the reserve if it holds them (under `budget`). */
  take(bucket: string, cost: number, budget: Budget, nowMs: number): boolean {
    const reserve = this.#live(bucket, budget, nowMs);
    if (reserve === null || reserve.tokens < cost) return false;
    reserve.tokens -= cost;
    return true;
  }

  /** Tokens left in the reserve of `bucket` (0 when none). */
  left(bucket: string, budget: Budget, nowMs: number): number {
    return this.#live(bucket, budget, nowMs)?.tokens ?? 0;
  }

  /** Takes what lapsed reserves of `bucket` held (to give back to the store); 0 when nothing. */
  reclaim(bucket: string, budget: Budget, nowMs: number): number {
    this.#live(bucket, budget, nowMs);
    const tokens = this.#lapsed.get(bucket) ?? 0;
    this.#lapsed.delete(bucket);
    return tokens;
  }

  /** Adds `tokens` drawn from the store (or given back) to the reserve of `bucket`. */
  add(bucket: string, tokens: number, budget: Budget, nowMs: number): void {
    const live = this.#live(bucket, budget, nowMs);
    this.#reserves.delete(bucket);
    if (live !== null) {
      live.tokens = Math.min(budget.burst, live.tokens + tokens);
      this.#reserves.set(bucket, live);
      return;
    }
    if (this.#reserves.size >= TOKEN_RESERVE_BUCKETS_MAX) {
      this.#reserves.delete(this.#reserves.keys().next().value!);
    }
    this.#reserves.set(bucket, {
      tokens: Math.min(budget.burst, tokens),
      untilMs: nowMs + TOKEN_RESERVE_MS,
      budget,
    });
  }

  #live(bucket: string, budget: Budget, nowMs: number): Reserve | null {
    const reserve = this.#reserves.get(bucket);
    if (reserve === undefined) return null;
    if (
      nowMs >= reserve.untilMs || reserve.budget.burst !== budget.burst ||
      reserve.budget.ratePerSecond !== budget.ratePerSecond
    ) {
      this.#reserves.delete(bucket);
      if (reserve.tokens >= 1) {
        this.#lapsed.delete(bucket);
        if (this.#lapsed.size >= TOKEN_RESERVE_BUCKETS_MAX) {
          this.#lapsed.delete(this.#lapsed.keys().next().value!);
        }
        this.#lapsed.set(bucket, Math.floor(reserve.tokens));
      }
      return null;
    }
    return reserve;
  }
}
