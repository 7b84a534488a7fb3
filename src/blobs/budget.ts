/**
 * What blob uploads cost: bytes, drawn from two token buckets in the regional store — the
 * uploading author's (the key that signed the request) and the client address's (IPv6 by its
 * /64) — so that no key and no host can fill a region's store. Both are drawn in one store call;
 * when one refuses, what the other granted is given back. Region-local abuse control, never
 * replicated, like the push limits of `src/guard/rate_limiter.ts`.
 */
import { addressSubject } from "../guard/client_address.ts";
import { BLOB_BYTES_MAX } from "../protocol/blob_ref.ts";
import type { RegionStore, TokenGrant } from "../store/region_store.ts";

/** Upload bytes per second one author key may sustain in this region (1 MiB/s). */
export const AUTHOR_BLOB_BYTES_PER_S = 1_048_576;
/** Upload bytes one author key may send at once after being idle (64 MiB). */
export const AUTHOR_BLOB_BURST_BYTES = 67_108_864;
/** Upload bytes per second one client address may sustain (4 MiB/s). */
export const ADDRESS_BLOB_BYTES_PER_S = 4_194_304;
/** Upload bytes one client address may send at once after being idle (128 MiB). */
export const ADDRESS_BLOB_BURST_BYTES = 134_217_728;

/** The byte budgets of uploads. Each field defaults to the constant of the same name. */
export interface BlobBudgets {
  readonly authorBytesPerS: number;
  /** At least `BLOB_BYTES_MAX`: one whole blob must fit a full bucket. */
  readonly authorBurstBytes: number;
  readonly addressBytesPerS: number;
  /** At least `BLOB_BYTES_MAX`. */
  readonly addressBurstBytes: number;
}

export const DEFAULT_BLOB_BUDGETS: BlobBudgets = {
  authorBytesPerS: AUTHOR_BLOB_BYTES_PER_S,
  authorBurstBytes: AUTHOR_BLOB_BURST_BYTES,
  addressBytesPerS: ADDRESS_BLOB_BYTES_PER_S,
  addressBurstBytes: ADDRESS_BLOB_BURST_BYTES,
};

if (AUTHOR_BLOB_BURST_BYTES < BLOB_BYTES_MAX || ADDRESS_BLOB_BURST_BYTES < BLOB_BYTES_MAX) {
  throw new Error("The blob burst budgets must hold one whole blob (BLOB_BYTES_MAX)");
}

/** The budgets with defaults filled in; throws TypeError naming a bad field. */
export function blobBudgets(given: Partial<BlobBudgets> = {}): BlobBudgets {
  const budgets = { ...DEFAULT_BLOB_BUDGETS, ...given };
  for (const [name, value] of Object.entries(budgets)) {
    const least = name.endsWith("BurstBytes") ? BLOB_BYTES_MAX : 0;
    if (!(Number.isFinite(value) && value > 0 && value >= least)) {
      throw new TypeError(
        `Cannot limit blob uploads as '${name}' must be a positive number of at least ${least}: ${value}`,
      );
    }
  }
  return budgets;
}

/** Who pays for an upload. */
export interface BlobPayer {
  readonly author: string;
  readonly address: string;
}

/**
 * Draws `bytes` (1 … BLOB_BYTES_MAX) from the payer's two buckets at `nowMs`: allowed only when
 * both grant; else neither keeps the draw, and `retryAfterMs` is the longer wait.
 */
export async function drawBlobBytes(
  store: Pick<RegionStore, "takeTokensMany">,
  budgets: BlobBudgets,
  payer: BlobPayer,
  bytes: number,
  nowMs: number,
): Promise<TokenGrant> {
  const buckets = [
    {
      bucket: `blob:author:${payer.author}`,
      ratePerSecond: budgets.authorBytesPerS,
      burst: budgets.authorBurstBytes,
    },
    {
      bucket: `blob:addr:${addressSubject(payer.address)}`,
      ratePerSecond: budgets.addressBytesPerS,
      burst: budgets.addressBurstBytes,
    },
  ];
  const grants = await store.takeTokensMany(buckets.map((b) => ({ ...b, cost: bytes })), nowMs);
  if (grants.every((g) => g.allowed)) return grants[1];
  const back = buckets.filter((_, i) => grants[i].allowed).map((b) => ({ ...b, cost: -bytes }));
  if (back.length > 0) await store.takeTokensMany(back, nowMs);
  const retryAfterMs = Math.max(...grants.map((g) => g.retryAfterMs));
  return { allowed: false, retryAfterMs, remaining: Math.min(...grants.map((g) => g.remaining)) };
}
