/**
 * A module worker around TopicHub's shared log poll (for hub_poll_workerd_test.ts), over a fake
 * store whose region log `/write` appends a topic message to, as another instance of the region
 * would, and whose log heads take 300 ms to read (a timer standing in for the store's fetch, which
 * belongs to the request that made it). `/next?s=&ms=` subscribes to subject `s` and waits up to
 * `ms` for one event, as `GET /v1/topics/...?wait=` does; the hub polls every 20 ms.
 */
import { TopicHub } from "../../src/topics/hub.ts";
import { Subscription } from "../../src/topics/subscription.ts";
import { TopicCursor } from "../../src/topics/cursor.ts";
import { parseSubject } from "../../src/topics/subject.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { fakeLogStore } from "../support/fake_log_store.ts";

const { store: fast, append } = fakeLogStore();
const store = {
  ...fast,
  kind: "memory",
  logHeads: () => new Promise((resolve) => setTimeout(() => resolve(fast.logHeads()), 300)),
} as unknown as RegionStore;
let written = 0;
const hub = new TopicHub({ store, pollMs: 20 });

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/write") {
      const topic = url.searchParams.get("t") ?? "jobs.a";
      const seq = ++written;
      const id = `m${seq}`;
      const body = JSON.stringify({
        topic,
        author: "a",
        seq,
        ts: Date.now(),
        ttl: 60_000,
        data: id,
      });
      append(`_topic:${topic}`, { id, author: "a", seq, body, sig: "s" });
      return new Response("written");
    }
    const subject = parseSubject(url.searchParams.get("s") ?? "jobs.>")!;
    const subscription = new Subscription(subject, TopicCursor.fresh(Date.now() - 5_000), Date.now);
    await hub.add(subscription);
    const alive = hub.keepAlive();
    const started = Date.now();
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), Number(url.searchParams.get("ms") ?? "0"));
    try {
      const next = await subscription.next(deadline.signal);
      return Response.json({
        got: next.kind === "event" ? next.event.data : null,
        tookMs: Date.now() - started,
      });
    } finally {
      clearTimeout(timer);
      alive();
      hub.remove(subscription);
    }
  },
};
