/**
 * Follows one system channel of the regional store (`_equivocations`, `_certificates`) in an
 * instance: reads the arrivals after its cursor and hands every `set` op to `onSet`. Callers on
 * the ingest path pass the region clock to skip a catch-up made less than `refreshMs` before (a
 * push then costs no extra store round trip); concurrent catch-ups share one run, and a call
 * that finds one running waits for it and then catches up again, so it sees everything stored
 * before it was made.
 */
import type { Op } from "../protocol/delta.ts";
import type { RegionStore } from "../store/region_store.ts";

/** Deltas of a followed channel read per page while catching up. */
export const FOLLOW_PAGE_DELTAS = 1_000;

export class ChannelFollower {
  readonly #store: RegionStore;
  readonly #channel: string;
  readonly #refreshMs: number;
  readonly #onSet: (key: string, value: unknown) => void | Promise<void>;
  #cursor = 0;
  #refreshedAtMs: number | null = null;
  #inflight: Promise<void> | null = null;

  constructor(
    store: RegionStore,
    channel: string,
    refreshMs: number,
    onSet: (key: string, value: unknown) => void | Promise<void>,
  ) {
    this.#store = store;
    this.#channel = channel;
    this.#refreshMs = refreshMs;
    this.#onSet = onSet;
  }

  /** Catches up; given the region clock `nowMs`, not if it did less than `refreshMs` before. */
  async refresh(nowMs?: number): Promise<void> {
    const last = this.#refreshedAtMs;
    if (nowMs !== undefined && last !== null && nowMs >= last && nowMs - last < this.#refreshMs) {
      return;
    }
    while (this.#inflight !== null) await this.#inflight;
    const work = this.#catchUp().finally(() => this.#inflight = null);
    this.#inflight = work;
    await work;
    if (nowMs !== undefined) this.#refreshedAtMs = nowMs;
  }

  async #catchUp(): Promise<void> {
    for (;;) {
      const page = await this.#store.listArrivals(this.#channel, this.#cursor, FOLLOW_PAGE_DELTAS);
      for (const record of page.deltas) {
        const { ops } = JSON.parse(record.body) as { ops: Op[] };
        for (const op of ops) if (op.op === "set") await this.#onSet(op.key, op.value);
      }
      this.#cursor = page.cursor;
      if (!page.more) return;
    }
  }
}
