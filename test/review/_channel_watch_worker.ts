/**
 * A module worker around ChannelWatch (for channel_watch_workerd_runtime_test.ts), over a fake
 * store whose region log `/write` appends to as another instance of the region would (no notify).
 * `/wait?c=&ms=` takes a ticket on channel `c` and waits up to `ms`.
 */
import { ChannelWatch } from "../../src/views/channel_watch.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { FIRST_DATA_SHARD, LOG_SHARDS } from "../../src/store/region_log.ts";

const log: { shard: number; n: number; channel: string; id: string; origin: "agent" }[] = [];
const heads = () =>
  Array.from({ length: LOG_SHARDS }, (_, s) => s === FIRST_DATA_SHARD ? log.length : 0);
const store = {
  kind: "memory",
  logHeads: () => Promise.resolve(heads()),
  listLog: (shard: number, after: number, limit: number) => {
    const entries = shard === FIRST_DATA_SHARD ? log.slice(after, after + limit) : [];
    const cursor = entries.length > 0 ? entries[entries.length - 1].n : after;
    return Promise.resolve({ entries, cursor, more: entries.length > 0 && cursor < log.length });
  },
  listArrivals: (_channel: string, after: number) =>
    Promise.resolve({ deltas: [], cursor: after, more: false }),
  listEquivocations: (after: number) =>
    Promise.resolve({ equivocations: [], entries: [], cursor: after, more: false }),
} as unknown as RegionStore;
const watch = new ChannelWatch(store, 50);

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const channel = url.searchParams.get("c") ?? "c";
    if (url.pathname === "/write") {
      log.push({ shard: FIRST_DATA_SHARD, n: log.length + 1, channel, id: "x", origin: "agent" });
      return new Response("written");
    }
    const ticket = await watch.ticket(channel);
    const started = Date.now();
    const woken = await ticket.wait(Number(url.searchParams.get("ms") ?? "0"));
    return Response.json({ woken, tookMs: Date.now() - started });
  },
};
