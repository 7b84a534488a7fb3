/**
 * Follows an ordered list in the regional store — a system channel's arrivals (`_equivocations`,
 * `_certificates`) or the store's equivocations — in an instance: reads the pages after its
 * cursor and hands every item on. Callers on the ingest path pass the region clock to skip a
 * catch-up made less than `refreshMs` before (a push then costs no extra store round trip);
 * concurrent catch-ups share one run, and a call that finds one running waits for it and then
 * catches up again, so it sees everything stored before it was made. A follower whose items are
 * idempotent and order-free (`independent`: the quarantine's authors) runs each call's catch-up
 * on its own instead, from the cursor as it stands: a request never waits on reads another request
 * started, which an edge runtime (workerd) may never complete once that request has answered.
 */
import type { Op } from "../protocol/delta.ts";
import type { Equivocation, RegionStore } from "../store/region_store.ts";

/** Items read per page while catching up. */
export const FOLLOW_PAGE_DELTAS = 1_000;

/** Reads the page after `cursor`, hands its items on, and says where it ended. */
export type FollowStep = (cursor: number) => Promise<{ cursor: number; more: boolean }>;

export class StoreFollower {
  readonly #refreshMs: number;
  readonly #step: FollowStep;
  #cursor = 0;
  #refreshedAtMs: number | null = null;
  /** The store's mark for the list as of the last `refreshAt` catch-up (null: none yet). */
  #mark: number | null = null;
  #inflight: Promise<void> | null = null;
  readonly #independent: boolean;

  constructor(refreshMs: number, step: FollowStep, independent = false) {
    this.#refreshMs = refreshMs;
    this.#step = step;
    this.#independent = independent;
  }

  /** Catches up; given the region clock `nowMs`, not if it did less than `refreshMs` before. */
  async refresh(nowMs?: number): Promise<void> {
    const last = this.#refreshedAtMs;
    if (nowMs !== undefined && last !== null && nowMs >= last && nowMs - last < this.#refreshMs) {
      return;
    }
    if (this.#independent) await this.#catchUp();
    else {
      while (this.#inflight !== null) await this.#inflight;
      const work = this.#catchUp().finally(() => this.#inflight = null);
      this.#inflight = work;
      await work;
    }
    if (nowMs !== undefined) this.#refreshedAtMs = nowMs;
  }

  /**
   * Catches up unless `mark` — the store's mark for this list (one that rises with every item),
   * read after the caller's call began — is the one a catch-up already covered: then nothing was
   * stored since, and the store is not read.
   */
  async refreshAt(mark: number): Promise<void> {
    if (mark === this.#mark) return;
    await this.refresh(); // reads at least everything stored when `mark` was read
    if (this.#mark === null || mark > this.#mark) this.#mark = mark;
  }

  async #catchUp(): Promise<void> {
    // Every item at or below the cursor was handed on by a run that read it (independent runs
    // may overlap: the cursor only moves forward).
    for (let cursor = this.#cursor;;) {
      const page = await this.#step(cursor);
      cursor = page.cursor;
      this.#cursor = Math.max(this.#cursor, cursor);
      if (!page.more) return;
    }
  }
}

/**
 * `Promise.all` that settles only once every promise has: then throws the first failure, or
 * answers the values. For a request that starts several catch-ups at once: each may be shared with
 * other requests (a StoreFollower's run, a ChannelViews read), and on workerd what a request left
 * running when it answered (on the first failure, with `Promise.all`) never ends.
 */
export async function allSettledOrThrow<T extends readonly unknown[] | []>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  for (const result of results) if (result.status === "rejected") throw result.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

/** Follows one system channel: every `set` op of its deltas goes to `onSet`. */
export class ChannelFollower extends StoreFollower {
  constructor(
    store: RegionStore,
    channel: string,
    refreshMs: number,
    onSet: (key: string, value: unknown) => void | Promise<void>,
    independent = false,
  ) {
    super(refreshMs, async (cursor) => {
      const page = await store.listArrivals(channel, cursor, FOLLOW_PAGE_DELTAS);
      for (const record of page.deltas) {
        const { ops } = JSON.parse(record.body) as { ops: Op[] };
        for (const op of ops) if (op.op === "set") await onSet(op.key, op.value);
      }
      return page;
    }, independent);
  }
}

/** Follows the store's equivocations: each goes to `onEquivocation`. */
export class EquivocationFollower extends StoreFollower {
  constructor(
    store: RegionStore,
    refreshMs: number,
    onEquivocation: (equivocation: Equivocation) => void,
    independent = false,
  ) {
    super(refreshMs, async (cursor) => {
      const page = await store.listEquivocations(cursor, FOLLOW_PAGE_DELTAS);
      for (const entry of page.entries) onEquivocation(entry);
      return page;
    }, independent);
  }
}
