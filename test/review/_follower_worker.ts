/**
 * A module worker around the quarantine's shared catch-up (for
 * quarantine_follower_workerd_test.ts), over a store whose equivocation list takes 300 ms to
 * read (a timer standing in for the store's fetch, which belongs to the request that made it).
 * `/start` starts a catch-up and answers at once, as a request whose timer ran the watch's poll
 * (ChannelWatch.poll → Quarantine.catchUpTo) answers when it is woken; `/read` catches up and
 * answers how long it took, as every view read does (ChannelViews → Quarantine.catchUpTo).
 */
import { Quarantine } from "../../src/guard/quarantine.ts";
import type { RegionStore } from "../../src/store/region_store.ts";

let mark = 0;
const slow = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 300));
const store = {
  kind: "memory",
  listArrivals: (_channel: string, after: number) =>
    Promise.resolve({ deltas: [], cursor: after, more: false }),
  listEquivocations: (after: number) =>
    slow({ equivocations: [], entries: [], cursor: after, more: false }),
} as unknown as RegionStore;
const quarantine = new Quarantine(store);

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const started = Date.now();
    if (url.pathname === "/start") {
      void quarantine.catchUpTo(0, ++mark).catch(() => {});
      return new Response("started");
    }
    await quarantine.catchUpTo(0, ++mark);
    return Response.json({ tookMs: Date.now() - started });
  },
};
