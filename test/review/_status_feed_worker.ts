/**
 * A module worker around the status stream's sampler and the coordination count (for
 * status_feed_workerd_test.ts), over a fake store whose index takes 300 ms to list (a timer
 * standing in for the store's fetch, which belongs to the request that made it). `/stream` is
 * `GET /v1/status/stream` (StatusFeed.open, sampling the figures every 250 ms); `/status` is
 * `GET /v1/status` (the figures now, answered with how long they took).
 */
import { CoordinationCounter } from "../../src/status/coordination.ts";
import { StatusFeed } from "../../src/status/feed.ts";
import type { RegionStore } from "../../src/store/region_store.ts";

const store = {
  kind: "memory",
  listIndex: () =>
    new Promise((resolve) => setTimeout(() => resolve({ entries: [], more: false }), 300)),
} as unknown as RegionStore;
const counter = new CoordinationCounter({
  store,
  topicSubscribers: () => 0,
  statusStreams: () => feed.size,
});
const feed: StatusFeed<unknown> = new StatusFeed<unknown>({
  snapshot: () => counter.figures(Date.now()),
  changeKey: (doc) => JSON.stringify(doc),
});

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/stream") return feed.open("127.0.0.1", request.signal);
    const started = Date.now();
    const figures = await counter.figures(Date.now());
    return Response.json({ figures, tookMs: Date.now() - started });
  },
};
