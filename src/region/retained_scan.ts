/**
 * Reading what a channel of expiring messages (a topic, a mailbox) still retains, without
 * reading its whole history: each such channel has a low-water mark in the store index — an
 * arrival number at or below which nothing is of use any more (expired, or acknowledged) — and a
 * scan starts above it. Scans move the mark forward themselves when the dead prefix they read has
 * grown by `LOW_WATER_STEP`. The mark is derived data: losing it costs a longer scan, never a
 * message (the deltas themselves are never deleted: the set stays grow-only).
 */
import type { ArrivedDelta, IndexKey, RegionStore } from "../store/region_store.ts";

/** Arrivals read per page of a scan. */
export const RETAINED_SCAN_PAGE = 256;
/** How far past the stored low-water mark a scan must get before it moves it, in arrivals. */
export const LOW_WATER_STEP = 64;

export function lowWaterKey(channel: string): IndexKey {
  return ["retained", "low", channel];
}

/** The low-water mark of `channel` (0 when none), with the raw value it was read as. */
export async function readLowWater(
  store: RegionStore,
  channel: string,
): Promise<{ readonly arrival: number; readonly raw: string | null }> {
  const [raw] = await store.readIndex([lowWaterKey(channel)]);
  const arrival = raw === null ? 0 : Number(raw);
  return { arrival: Number.isSafeInteger(arrival) && arrival > 0 ? arrival : 0, raw };
}

/**
 * Moves the mark of `channel` from `from` (as read) to `to` when that is at least
 * `LOW_WATER_STEP` further; a concurrent move wins, and a store error is ignored (derived data).
 */
export async function moveLowWater(
  store: RegionStore,
  channel: string,
  from: { readonly arrival: number; readonly raw: string | null },
  to: number,
): Promise<void> {
  if (to < from.arrival + LOW_WATER_STEP) return;
  const key = lowWaterKey(channel);
  await store.writeIndex({ expect: [{ key, value: from.raw }], set: [{ key, value: String(to) }] })
    .catch(() => false);
}

/** The arrivals of `channel` above its low-water mark, page by page, lazily. */
export async function* retainedArrivals(
  store: RegionStore,
  channel: string,
  from: number,
): AsyncGenerator<ArrivedDelta> {
  let after = from;
  for (;;) {
    const page = await store.listArrivals(channel, after, RETAINED_SCAN_PAGE);
    yield* page.deltas;
    after = page.cursor;
    if (!page.more) return;
  }
}

/** Tracks the longest run of dead arrivals right above the mark, as a scan reads them. */
export class DeadPrefix {
  #upTo: number;
  constructor(from: number) {
    this.#upTo = from;
  }
  /** Notes arrival `arrival` as dead (true) or alive; only a contiguous run counts. */
  note(arrival: number, dead: boolean): void {
    if (dead && arrival === this.#upTo + 1) this.#upTo = arrival;
  }
  get upTo(): number {
    return this.#upTo;
  }
}
