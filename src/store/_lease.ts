/**
 * The lease rule every store applies atomically, as pure functions of the stored lease: the
 * in-memory store calls them directly, Deno KV inside a compare-and-set, and the Upstash store
 * mirrors them in its lease script (`LEASE_SCRIPT`).
 *
 * A lease is live while `nowMs < expiresAtMs`. Releasing sets `expiresAtMs` to 0 but keeps the
 * holder and epoch, so the next taker (even the same holder) gets epoch + 1.
 */
import type { Lease } from "./region_store.ts";

/**
 * The lease after `holder` asks for it at `nowMs` for `ttlMs`: a new lease with epoch 1 when none
 * exists; epoch + 1 when it is free (expired or released); the same epoch with a later expiry
 * when `holder` renews it while live; `current` itself (the very object) when another holds it.
 */
export function grantLease(
  current: Lease | null,
  holder: string,
  ttlMs: number,
  nowMs: number,
): Lease {
  const expiresAtMs = nowMs + ttlMs;
  if (current === null) return { holder, epoch: 1, expiresAtMs };
  if (nowMs >= current.expiresAtMs) return { holder, epoch: current.epoch + 1, expiresAtMs };
  if (current.holder !== holder) return current;
  // A renewal never shortens the lease, e.g. when the renewer's clock runs behind.
  return { holder, epoch: current.epoch, expiresAtMs: Math.max(current.expiresAtMs, expiresAtMs) };
}

/** The lease after `holder` gives it up, or null when that changes nothing. */
export function releasedLease(current: Lease | null, holder: string): Lease | null {
  if (current === null || current.holder !== holder || current.expiresAtMs === 0) return null;
  return { ...current, expiresAtMs: 0 };
}
