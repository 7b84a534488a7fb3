/**
 * A module worker around TopicHub (for hub_workerd_test.ts), over a fake store whose region log
 * `/write?t=` appends a topic message to, as another instance of the region would (the hub is not
 * told). `/next?s=&ms=` subscribes to subject `s` and waits up to `ms` for one event.
 */
import { TopicHub } from "../../src/topics/hub.ts";
import { Subscription } from "../../src/topics/subscription.ts";
import { TopicCursor } from "../../src/topics/cursor.ts";
import { parseSubject } from "../../src/topics/subject.ts";
import type { RegionStore, StoredDelta } from "../../src/store/region_store.ts";
import { FIRST_DATA_SHARD, LOG_SHARDS } from "../../src/store/region_log.ts";

const log: { shard: number; n: number; channel: string; id: string; origin: "agent" }[] = [];
const deltas = new Map<string, StoredDelta>();
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
  getDelta: (_channel: string, id: string) => Promise.resolve(deltas.get(id) ?? null),
} as unknown as RegionStore;
const hub = new TopicHub({ store, pollMs: 50 });

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/write") {
      const topic = url.searchParams.get("t") ?? "jobs.a";
      const id = `m${log.length + 1}`;
      const channel = `_topic:${topic}`;
      const body = JSON.stringify({
        topic,
        author: "a",
        seq: log.length + 1,
        ts: Date.now(),
        ttl: 60_000,
        data: id,
      });
      deltas.set(id, { channel, id, author: "a", seq: log.length + 1, body, sig: "s" });
      log.push({ shard: FIRST_DATA_SHARD, n: log.length + 1, channel, id, origin: "agent" });
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
