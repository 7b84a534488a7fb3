/**
 * Long-polls on a channel (docs/protocol.md §12.2–12.3): a view read with `If-None-Match` and
 * `wait`, a tail read with `after` and `wait`, answered as soon as the channel holds something the
 * client has not seen, or when the wait is over.
 */
import type { Context } from "hono";
import { LONG_POLL_WAIT_S_MAX } from "../protocol/limits.ts";
import { channelWatchOf } from "../views/channel_watch.ts";
import { AddressSlots } from "../guard/address_slots.ts";
import { integerQuery } from "./query_params.ts";
import type { RegionDeps } from "./deps.ts";
import { refuseFull, refuseSlot } from "./problem.ts";

/** Most waiting channel reads one instance holds. */
export const CHANNEL_WAITERS_MAX = 10_000;
/** Most waiting channel reads one client address holds on one instance. */
export const CHANNEL_WAITERS_PER_ADDRESS_MAX = 64;

/** The `wait` query parameter of a channel read, in ms (0 when absent). */
export function waitParam(c: Context): number {
  return integerQuery(c.req.query("wait"), "wait", 0, LONG_POLL_WAIT_S_MAX, 0) * 1_000;
}

/** The entity tags of an `If-None-Match` header (`*` as itself); empty when absent. */
export function entityTags(header: string | undefined): Set<string> {
  const tags = new Set<string>();
  if (header === undefined) return tags;
  for (const part of header.split(",")) {
    const tag = part.trim().replace(/^W\//, "");
    if (tag !== "") tags.add(tag);
  }
  return tags;
}

/** Waiting reads of one region app: the per-address slots and the instance's cap. */
export class ChannelWaits {
  readonly #slots = new AddressSlots(CHANNEL_WAITERS_PER_ADDRESS_MAX);
  readonly #deps: RegionDeps;

  constructor(deps: RegionDeps) {
    this.#deps = deps;
  }

  /**
   * Reads with `read` until `unchanged` says no (the client lacks what it returned), `waitMs` has
   * passed, or the client went away; returns the last read. Without a wait, reads once. `read`
   * is told whether a wake-up called it (the first read of a request never is).
   */
  async read<T>(
    c: Context,
    channel: string,
    waitMs: number,
    read: (woken: boolean) => Promise<T>,
    unchanged: (value: T) => boolean,
  ): Promise<T> {
    if (waitMs === 0) return await read(false);
    const watch = channelWatchOf(this.#deps.store);
    if (watch.size >= CHANNEL_WAITERS_MAX) refuseFull("waiting reads");
    const release = this.#slots.claim(this.#deps.clientAddress(c)) ??
      refuseSlot("waiting reads", CHANNEL_WAITERS_PER_ADDRESS_MAX);
    const deadline = performance.now() + waitMs;
    try {
      for (let woken = false;; woken = true) {
        // The ticket first: whatever is stored while the read runs wakes it.
        const ticket = await watch.ticket(channel);
        const value = await read(woken).catch((error) => {
          ticket.cancel();
          throw error;
        });
        const left = deadline - performance.now();
        if (!unchanged(value) || left <= 0) return (ticket.cancel(), value);
        if (!(await ticket.wait(left, c.req.raw.signal))) return value;
      }
    } finally {
      release();
    }
  }
}
