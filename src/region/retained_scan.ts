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

/**
 * How much earlier than a subscription's start a replay begins, in ms of this region's clock: a
 * message with `ts ≥ T0` was stored here no earlier than `T0` less the future skew a region
 * allows (60 s), less the skew between regions' clocks and the time a commit takes (margin).
 */
export const ARRIVAL_MARK_MARGIN_MS = 5 * 60_000;
/** Channels one instance remembers marking this minute (a bound on its memory). */
const MARKED_CHANNELS_MAX = 10_000;

function minuteKey(channel: string, minute: number): IndexKey {
  return ["retained", "minute", channel, String(minute).padStart(12, "0")];
}

/** A mark is rewritten after this many more arrivals, or this long, within its minute. */
const MARK_STEP_ARRIVALS = 256;
const MARK_STEP_MS = 5_000;

/**
 * Arrival marks: per channel and minute of this region's clock, an arrival number stored in that
 * minute — kept near the minute's last (rewritten every MARK_STEP_ARRIVALS arrivals or
 * MARK_STEP_MS). Every message stored in a later minute has a higher arrival number, so a replay
 * from time T starts after the mark of a minute before T instead of at the low-water mark.
 * Derived data: a missing or low mark costs a longer scan, never a message.
 */
export class ArrivalMarks {
  readonly #store: RegionStore;
  readonly #marked = new Map<string, { minute: number; atMs: number; arrival: number }>();

  constructor(store: RegionStore) {
    this.#store = store;
  }

  /** Notes that `channel` stored `arrival` at `nowMs`; writes the mark when it is due. */
  note(channel: string, arrival: number, nowMs: number): void {
    const minute = Math.floor(nowMs / 60_000);
    const last = this.#marked.get(channel);
    const due = last === undefined || last.minute !== minute ||
      nowMs - last.atMs >= MARK_STEP_MS || arrival >= last.arrival + MARK_STEP_ARRIVALS;
    if (!due || (last !== undefined && last.minute === minute && arrival <= last.arrival)) return;
    this.#marked.delete(channel);
    this.#marked.set(channel, { minute, atMs: nowMs, arrival });
    if (this.#marked.size > MARKED_CHANNELS_MAX) {
      this.#marked.delete(this.#marked.keys().next().value!);
    }
    const key = minuteKey(channel, minute);
    void this.#store.writeIndex({ set: [{ key, value: String(arrival) }] }).catch(() => false);
  }

  /**
   * An arrival number of `channel` stored before every message stored from `fromMs` on (less
   * ARRIVAL_MARK_MARGIN_MS): the mark of the latest minute before that; 0 when there is none.
   */
  async before(channel: string, fromMs: number): Promise<number> {
    const limit = Math.floor((fromMs - ARRIVAL_MARK_MARGIN_MS) / 60_000);
    if (limit <= 0) return 0;
    const page = await this.#store.listIndex(["retained", "minute", channel], {
      after: minuteKey(channel, limit),
      reverse: true,
      limit: 1,
    });
    const arrival = Number(page.entries[0]?.value ?? 0);
    return Number.isSafeInteger(arrival) && arrival > 0 ? arrival : 0;
  }
}

const marksByStore = new WeakMap<RegionStore, ArrivalMarks>();

/** The arrival marks of `store` in this instance. */
export function arrivalMarksOf(store: RegionStore): ArrivalMarks {
  let marks = marksByStore.get(store);
  if (marks === undefined) marksByStore.set(store, marks = new ArrivalMarks(store));
  return marks;
}
