/**
 * Abuse control of `POST /v1/deltas`: token buckets in the regional store (so every instance of a
 * region draws from the same ones) per client address — one token per push request, drawn before
 * the body is read — and per author key — one token per delta whose signature verified. Each
 * subject's budget is scaled by its local reputation (`reputation.ts`).
 *
 * An instance that has to ask the store anyway also draws a small reserve of each bucket and
 * serves the next draws from it for a few seconds (`token_reserve.ts`): a push then usually costs
 * no store write for its rate limits at all, and the limits are still never exceeded.
 *
 * Why authors are charged only for verified deltas: anyone can put any author key in a body, so
 * charging unverified deltas to the key they name would let a forger drain a victim's budget.
 * For the same reason, what a delta with a bad signature says about anyone is held against the
 * client address that sent it, never against the author it names: an author's reputation only
 * counts deltas its key provably signed.
 */
import type { DeltaResult } from "../protocol/result.ts";
import { PUSH_DELTAS_MAX } from "../protocol/limits.ts";
import {
  type RegionStore,
  TOKEN_REQUESTS_MAX,
  type TokenGrant,
  type TokenRequest,
} from "../store/region_store.ts";
import { addressSubject } from "./client_address.ts";
import { type ReputationEvent, type ReputationPolicy, ReputationTable } from "./reputation.ts";
import { type Budget, reserveSize, TokenReserves } from "./token_reserve.ts";

/** Push requests per second one client address may sustain. */
export const ADDRESS_PUSH_RATE_PER_S = 1_000;
/** Push requests one client address may send at once after being idle. */
export const ADDRESS_PUSH_BURST = 2_000;
/** Deltas per second one author key may sustain in this region. */
export const AUTHOR_DELTA_RATE_PER_S = 500;
/** Deltas one author key may push at once after being idle. */
export const AUTHOR_DELTA_BURST = 5_000;

if (AUTHOR_DELTA_BURST < PUSH_DELTAS_MAX) {
  throw new Error("AUTHOR_DELTA_BURST must hold a full push of one author (PUSH_DELTAS_MAX)");
}
// One store call of a push: a give-back and a reserve per bucket, and one draw per delta.
if (3 * PUSH_DELTAS_MAX > TOKEN_REQUESTS_MAX) {
  throw new Error("TOKEN_REQUESTS_MAX must fit three requests per delta of a full push");
}

/** Signed heartbeats per second one agent may sustain in this region. */
export const AGENT_HEARTBEAT_RATE_PER_S = 1;
/** Signed heartbeats one agent may send at once after being idle. */
export const AGENT_HEARTBEAT_BURST = 10;

/** The store bucket of an agent's signed heartbeats. */
export function heartbeatBucket(agent: string): string {
  return `heartbeat:agent:${agent}`;
}

/**
 * Draws one heartbeat token of `agent` (`cost` 1), or gives one back (`cost` -1: its nonce was a
 * replay), in one store call. Heartbeats are rare per agent, so no reserve is kept in memory.
 */
export async function chargeHeartbeat(
  store: Pick<RegionStore, "takeTokensMany">,
  agent: string,
  nowMs: number,
  cost: 1 | -1 = 1,
): Promise<TokenGrant> {
  const [grant] = await store.takeTokensMany([{
    bucket: heartbeatBucket(agent),
    cost,
    ratePerSecond: AGENT_HEARTBEAT_RATE_PER_S,
    burst: AGENT_HEARTBEAT_BURST,
  }], nowMs);
  return grant;
}

/** The store bucket of pushes from a client address (IPv6 by its /64: `addressSubject`). */
export function addressBucket(address: string): string {
  return `push:addr:${addressSubject(address)}`;
}

/** The store bucket of an author key's deltas. */
export function authorBucket(author: string): string {
  return `push:author:${author}`;
}

/** The token budgets of pushes. Each field defaults to the constant of the same name. */
export interface RateLimits {
  /** Push requests per second per client address. Default {@linkcode ADDRESS_PUSH_RATE_PER_S}. */
  readonly addressPushRatePerS: number;
  /** Push requests at once per client address. Default {@linkcode ADDRESS_PUSH_BURST}. */
  readonly addressPushBurst: number;
  /** Deltas per second per author key. Default {@linkcode AUTHOR_DELTA_RATE_PER_S}. */
  readonly authorDeltaRatePerS: number;
  /** Deltas at once per author key. Default {@linkcode AUTHOR_DELTA_BURST}. */
  readonly authorDeltaBurst: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  addressPushRatePerS: ADDRESS_PUSH_RATE_PER_S,
  addressPushBurst: ADDRESS_PUSH_BURST,
  authorDeltaRatePerS: AUTHOR_DELTA_RATE_PER_S,
  authorDeltaBurst: AUTHOR_DELTA_BURST,
};

/** `Retry-After` in whole seconds (rounded up, at least 1) for a wait in ms. */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

/** A drawn or refused token, and whether the subject's reputation had shrunk its budget. */
export interface Charge extends TokenGrant {
  readonly throttled: boolean;
}

/** One token to draw from `bucket` under `budget`. */
interface Draw {
  readonly bucket: string;
  readonly budget: Budget;
  readonly throttled: boolean;
}

/** Reasons that say the sender sent something no valid client produces. */
const MALFORMED = new Set([
  "bad_envelope",
  "bad_encoding",
  "body_too_large",
  "bad_json",
  "bad_schema",
  "bad_proof",
  "bad_certificate",
  "bad_card",
  "bad_blob_ref",
]);

export class RateLimiter {
  readonly limits: RateLimits;
  /** Reputation of author keys: only deltas their key signed. */
  readonly authors: ReputationTable;
  /** Reputation of client addresses (by `addressSubject`): everything they sent. */
  readonly addresses: ReputationTable;
  readonly #store: RegionStore;
  readonly #reserves = new TokenReserves();
  /** Refunds that failed (the store was unavailable); those tokens stay spent. */
  refundsFailed = 0;

  constructor(
    store: RegionStore,
    limits: Partial<RateLimits> = {},
    reputation: Partial<ReputationPolicy> = {},
  ) {
    this.limits = { ...DEFAULT_RATE_LIMITS, ...limits };
    for (const [name, value] of Object.entries(this.limits)) {
      const least = name.endsWith("Burst") ? 1 : 0;
      if (!(Number.isFinite(value) && value > 0 && value >= least)) {
        throw new TypeError(
          `Cannot limit pushes as '${name}' must be a positive number${
            least ? " of at least 1" : ""
          }: ${value}`,
        );
      }
    }
    this.#store = store;
    this.authors = new ReputationTable(reputation);
    this.addresses = new ReputationTable(reputation);
  }

  /** Draws one push request from the bucket of `address` at `nowMs`. */
  async chargePush(address: string, nowMs: number): Promise<Charge> {
    const subject = addressSubject(address);
    const factor = this.addresses.budgetFactor(subject, nowMs);
    const [charge] = await this.#draw([{
      bucket: addressBucket(subject),
      budget: {
        ratePerSecond: this.limits.addressPushRatePerS * factor,
        burst: Math.max(1, this.limits.addressPushBurst * factor),
      },
      throttled: factor < 1,
    }], nowMs);
    if (!charge.allowed) this.addresses.record(subject, "rate_limited", nowMs);
    return charge;
  }

  /** Draws one token per delta from its author's bucket, in order, in one store call at most. */
  chargeDeltas(authors: readonly string[], nowMs: number): Promise<Charge[]> {
    const draws = new Map<string, Draw>();
    for (const author of authors) {
      if (draws.has(author)) continue;
      const factor = this.authors.budgetFactor(author, nowMs);
      draws.set(author, {
        bucket: authorBucket(author),
        budget: {
          ratePerSecond: this.limits.authorDeltaRatePerS * factor,
          burst: Math.max(1, this.limits.authorDeltaBurst * factor),
        },
        throttled: factor < 1,
      });
    }
    return this.#draw(authors.map((a) => draws.get(a)!), nowMs);
  }

  /**
   * One token per draw, in order: from this instance's reserve where it holds one, else from the
   * store — in one `takeTokensMany` call, which also asks for a reserve of each bucket it touches
   * (see `token_reserve.ts`).
   */
  async #draw(draws: readonly Draw[], nowMs: number): Promise<Charge[]> {
    const charges: (Charge | undefined)[] = draws.map((d) =>
      this.#reserves.take(d.bucket, 1, d.budget, nowMs)
        ? {
          allowed: true,
          retryAfterMs: 0,
          remaining: this.#reserves.left(d.bucket, d.budget, nowMs),
          throttled: d.throttled,
        }
        : undefined
    );
    const pending = charges.flatMap((c, i) => c === undefined ? [i] : []);
    if (pending.length === 0) return charges as Charge[];
    const touched = new Map(pending.map((i) => [draws[i].bucket, draws[i]]));
    // Tokens of lapsed reserves go back first, then one token per draw, then the new reserves.
    const requests: TokenRequest[] = [];
    for (const d of touched.values()) {
      const back = Math.min(this.#reserves.reclaim(d.bucket, d.budget, nowMs), d.budget.burst);
      if (back >= 1) requests.push({ ...d.budget, bucket: d.bucket, cost: -back });
    }
    const first = requests.length;
    for (const i of pending) {
      requests.push({ ...draws[i].budget, bucket: draws[i].bucket, cost: 1 });
    }
    const reserved = [...touched.values()].filter((d) => reserveSize(d.budget.burst) > 0);
    for (const d of reserved) {
      requests.push({ ...d.budget, bucket: d.bucket, cost: reserveSize(d.budget.burst) });
    }
    const grants = await this.#store.takeTokensMany(requests, nowMs);
    pending.forEach((i, k) => charges[i] = { ...grants[first + k], throttled: draws[i].throttled });
    reserved.forEach((d, k) => {
      if (grants[first + pending.length + k].allowed) {
        this.#reserves.add(d.bucket, reserveSize(d.budget.burst), d.budget, nowMs);
      }
    });
    return charges as Charge[];
  }

  /**
   * Gives back the tokens drawn for deltas that turned out to be stored already, so that replaying
   * an author's public deltas does not spend its budget. Best effort, never throws: a failure only
   * leaves the tokens spent (counted in `refundsFailed`).
   */
  refundDeltas(authors: readonly string[], nowMs: number): Promise<void> {
    const requests = authors.map((author) => {
      const factor = this.authors.budgetFactor(author, nowMs);
      return {
        bucket: authorBucket(author),
        cost: -1,
        ratePerSecond: this.limits.authorDeltaRatePerS * factor,
        burst: Math.max(1, this.limits.authorDeltaBurst * factor),
      };
    });
    return this.#store.takeTokensMany(requests, nowMs).then(
      () => {},
      () => void this.refundsFailed++,
    );
  }

  /**
   * Feeds one push's results into the reputations: each result counts against the sending
   * address; it counts for or against an author only when `signers[i]` (the key whose signature
   * over that body verified) is that author.
   */
  observe(
    address: string,
    results: readonly DeltaResult[],
    signers: readonly (string | null)[],
    nowMs: number,
  ): void {
    const subject = addressSubject(address);
    results.forEach((result, i) => {
      const event = eventOf(result);
      if (event === null) return;
      this.addresses.record(subject, event, nowMs);
      const signer = signers[i];
      if (signer !== null && event !== "invalid_signature") {
        this.authors.record(signer, event, nowMs);
      }
    });
  }
}

/** The reputation event of a delta's result, or null when it says nothing about the sender. */
function eventOf(result: DeltaResult): ReputationEvent | null {
  if (result.status !== "rejected") return result.status;
  if (result.reason === "bad_signature") return "invalid_signature";
  if (result.reason === "rate_limited") return "rate_limited";
  if (MALFORMED.has(result.reason)) return "invalid_schema";
  // future_timestamp (a skewed clock), reserved_channel, seq_conflict, not_admitted (a policy, not
  // misbehaviour), quarantined (the author
  // is refused anyway): not held against anyone.
  return null;
}
