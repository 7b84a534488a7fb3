/**
 * A module worker around TopicHub (for hub_workerd_test.ts), over a fake store whose region log
 * `/write?t=` appends a topic message to, as another instance of the region would (the hub is not
 * told). `/next?s=&ms=` subscribes to subject `s` and waits up to `ms` for one event.
 */
import { TopicHub } from "../../src/topics/hub.ts";
import { Subscription } from "../../src/topics/subscription.ts";
import { TopicCursor } from "../../src/topics/cursor.ts";
import { parseSubject } from "../../src/topics/subject.ts";
import { fakeLogStore } from "../support/fake_log_store.ts";

const { store, append } = fakeLogStore();
let written = 0;
const hub = new TopicHub({ store, pollMs: 50 });

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
