/**
 * The module worker of the TopicHub tests on workerd (test/topics/_hub_worker.ts,
 * test/review/_hub_poll_worker.ts): over a store whose region log `append` writes to as another
 * instance of the region would (the hub is not told), `/write?t=` appends a topic message and
 * `/next?s=&ms=` subscribes to subject `s` and waits up to `ms` for one event, as
 * `GET /v1/topics/...?wait=` does.
 */
import { TopicHub } from "../../src/topics/hub.ts";
import { Subscription } from "../../src/topics/subscription.ts";
import { TopicCursor } from "../../src/topics/cursor.ts";
import { parseSubject } from "../../src/topics/subject.ts";
import type { RegionStore, StoredDelta } from "../../src/store/region_store.ts";

export function hubWorker(
  store: RegionStore,
  append: (channel: string, delta: Omit<StoredDelta, "channel">) => unknown,
  pollMs: number,
): { fetch(request: Request): Promise<Response> } {
  let written = 0;
  const hub = new TopicHub({ store, pollMs });
  return {
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
      const subscription = new Subscription(
        subject,
        TopicCursor.fresh(Date.now() - 5_000),
        Date.now,
      );
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
}
