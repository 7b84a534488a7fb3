/** The results and stored records of an ingest (ingest.ts), as the store and the agent see them. */
import type { Delta, RejectReason } from "../protocol/delta.ts";
import type { DeltaResult } from "../protocol/result.ts";
import type { PutOutcome, StoredDelta } from "../store/region_store.ts";
import { retryAfterSeconds } from "../guard/rate_limiter.ts";

export function rejected(id: string, reason: RejectReason, detail: string): DeltaResult {
  return { id, status: "rejected", reason, detail };
}

export function rateLimited(id: string, retryAfterMs: number): DeltaResult {
  return {
    id,
    status: "rejected",
    reason: "rate_limited",
    detail: `this author is over its rate limit here; retry after ${
      retryAfterSeconds(retryAfterMs)
    } s`,
  };
}

export function stored(delta: Delta): StoredDelta {
  const { id, channel, author, seq, body, sig } = delta;
  return { id, channel, author, seq, body, sig };
}

export function resultOf(id: string, outcome: PutOutcome): DeltaResult {
  if (outcome.status === "equivocation") {
    return {
      id,
      status: "rejected",
      reason: "seq_conflict",
      detail: "this author already signed another delta with this seq; both are kept as " +
        `evidence and the author is quarantined in every region: ${outcome.existingId}`,
    };
  }
  return { id, status: outcome.status };
}
