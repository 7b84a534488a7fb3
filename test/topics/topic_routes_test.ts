/**
 * Topics through `app.request()` on a real Deno KV (in memory): publish with dedupe and route
 * checks, long-poll and SSE with subjects and wildcards, resume from a cursor on the same region
 * and on another region that received the same messages in another order, and a slow subscriber
 * dropped while a fast one gets everything.
 */
import assert from "node:assert/strict";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { REORDER_HOLD_MS, SUBSCRIBER_BUFFER_EVENTS_MAX } from "../../src/topics/subscription.ts";
import { TOPIC_SUBSCRIBERS_PER_ADDRESS_MAX } from "../../src/topics/routes.ts";
import { poll, publish, readEvents, topicMessage, topicRegion } from "./_topics.ts";

const NOW = () => T0_MS + 1_000;

async function withRegion(
  fn: (region: ReturnType<typeof topicRegion>) => Promise<void>,
  now = NOW,
) {
  const store = await DenoKvStore.open(":memory:");
  const region = topicRegion(store, now);
  try {
    await fn(region);
  } finally {
    await region.stop();
    await store.close();
  }
}

Deno.test("publish: accepted, duplicate, wrong topic, expired, and not through /v1/deltas", async () => {
  await withRegion(async ({ app }) => {
    const agent = testAgent();
    const m1 = await topicMessage(agent, "jobs.eu", { n: 1 });
    assert.deepEqual((await publish(app, "jobs.eu", [m1, m1])).map((r) => r.status), [
      "accepted",
      "duplicate",
    ]);
    const other = await topicMessage(agent, "jobs.us", { n: 2 });
    const [wrong] = await publish(app, "jobs.eu", [other]);
    assert.equal(wrong.reason, "wrong_route");
    const old = await topicMessage(testAgent(() => T0_MS - 10_000), "jobs.eu", 1, 5_000);
    const [expired] = await publish(app, "jobs.eu", [old]);
    assert.equal(expired.reason, "expired");
    const viaDeltas = await app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas: [other] }),
    });
    assert.equal((await viaDeltas.json()).results[0].reason, "wrong_route");
    const badTopic = await app.request("/v1/topics/a..b", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [m1] }),
    });
    assert.equal(badTopic.status, 400);
    assert.equal(badTopic.headers.get("content-type"), "application/problem+json");
  });
});

Deno.test("long-poll: subjects and wildcards, resume from the cursor without repeats", async () => {
  await withRegion(async ({ app }) => {
    const a = testAgent(), b = testAgent();
    await publish(app, "jobs.eu", [await topicMessage(a, "jobs.eu", 1)]);
    await publish(app, "jobs.eu.gpu", [await topicMessage(b, "jobs.eu.gpu", 2)]);
    await publish(app, "agents.a1.status", [await topicMessage(a, "agents.a1.status", 3)]);
    await publish(app, "agents.a1.load", [await topicMessage(a, "agents.a1.load", 4)]);
    const since = `since=${T0_MS - 1}`;
    const all = await poll(app, "jobs.>", since);
    assert.deepEqual(all.messages.map((m) => m.data).sort(), [1, 2]);
    assert.deepEqual((await poll(app, "agents.*.status", since)).messages.map((m) => m.data), [3]);
    assert.deepEqual((await poll(app, "jobs", since)).messages, []);
    const again = await poll(app, "jobs.>", `cursor=${all.cursor}`);
    assert.deepEqual(again.messages, []);
    await publish(app, "jobs.eu", [await topicMessage(a, "jobs.eu", 5)]);
    const next = await poll(app, "jobs.>", `cursor=${all.cursor}`);
    assert.deepEqual(next.messages.map((m) => m.data), [5]);
  });
});

Deno.test("a new subscription starts now (less the slack), not at the start of retention", async () => {
  await withRegion(async ({ app }) => {
    const early = testAgent(() => T0_MS - 60_000);
    await publish(app, "t", [await topicMessage(early, "t", "old")]);
    assert.deepEqual((await poll(app, "t", "")).messages, []);
    assert.equal((await poll(app, "t", `since=${T0_MS - 120_000}`)).messages.length, 1);
  });
});

Deno.test("resume on another region that got the same messages in another order", async () => {
  const [kvA, kvB] = [await DenoKvStore.open(":memory:"), await DenoKvStore.open(":memory:")];
  const [a, b] = [topicRegion(kvA, NOW, "eu-1"), topicRegion(kvB, NOW, "us-1")];
  try {
    const agents = [testAgent(), testAgent(), testAgent()];
    const messages = [];
    for (let i = 0; i < 30; i++) {
      messages.push(await topicMessage(agents[i % 3], "swarm.x", i));
    }
    // Region A gets the first 20 in order; region B gets all 30 in reverse order.
    for (const m of messages.slice(0, 20)) await publish(a.app, "swarm.x", [m]);
    for (const m of [...messages].reverse()) await publish(b.app, "swarm.x", [m]);
    const first = await poll(a.app, "swarm.>", `since=${T0_MS - 1}&limit=12`);
    assert.equal(first.messages.length, 12);
    const rest = await poll(b.app, "swarm.>", `cursor=${first.cursor}&limit=256`);
    const seen = [...first.messages, ...rest.messages].map((m) => m.data as number);
    assert.equal(seen.length, 30, "every message once");
    assert.deepEqual([...seen].sort((x, y) => x - y), [...Array(30).keys()]);
  } finally {
    await a.stop(), await b.stop();
    await kvA.close(), await kvB.close();
  }
});

Deno.test("SSE: ready, live messages with ids, Last-Event-ID resume", async () => {
  await withRegion(async ({ app }) => {
    const agent = testAgent();
    const stream = await app.request("/v1/topics/chat.%3E/events");
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get("content-type")!, /^text\/event-stream/);
    const reading = readEvents(stream, 3);
    await new Promise((r) => setTimeout(r, 20));
    await publish(app, "chat.room1", [await topicMessage(agent, "chat.room1", "hello")]);
    await publish(app, "chat.room2", [await topicMessage(agent, "chat.room2", "world")]);
    const events = await reading;
    assert.deepEqual(events.map((e) => e.event), ["ready", "message", "message"]);
    assert.deepEqual(events.slice(1).map((e) => e.data.data), ["hello", "world"]);
    await publish(app, "chat.room1", [await topicMessage(agent, "chat.room1", "later")]);
    const resumed = await app.request("/v1/topics/chat.%3E/events", {
      headers: { "last-event-id": events[2].id },
    });
    const after = await readEvents(resumed, 2);
    assert.deepEqual(after.map((e) => e.data.data ?? null), [null, "later"]);
  });
});

Deno.test("a slow subscriber is dropped with a resume cursor; a fast one gets everything", async () => {
  await withRegion(async ({ app }) => {
    const agent = testAgent();
    const slow = await app.request("/v1/topics/load/events");
    const slowReady = slow.body!.getReader(); // read nothing more: the buffer fills
    await slowReady.read();
    const fast = await app.request("/v1/topics/load/events");
    const total = SUBSCRIBER_BUFFER_EVENTS_MAX + 10;
    const fastReading = readEvents(fast, total + 1);
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < total; i += 128) {
      const batch = [];
      for (let j = i; j < Math.min(total, i + 128); j++) {
        batch.push(await topicMessage(agent, "load", j));
      }
      await publish(app, "load", batch);
    }
    const got = await fastReading;
    assert.equal(got.filter((e) => e.event === "message").length, total);
    slowReady.releaseLock();
    const slowEvents = await readEvents(slow, 5);
    const last = slowEvents.at(-1)!;
    assert.equal(last.event, "dropped");
    assert.equal(last.data.reason, "slow_subscriber");
    const resumed = await poll(app, "load", `cursor=${last.id}&limit=256`);
    assert.equal(resumed.messages.length, 256, "the resume cursor replays what was not sent");
  });
});

Deno.test("one client address holds at most TOPIC_SUBSCRIBERS_PER_ADDRESS_MAX subscriptions", async () => {
  await withRegion(async ({ app }) => {
    const open = [];
    for (let i = 0; i < TOPIC_SUBSCRIBERS_PER_ADDRESS_MAX; i++) {
      const response = await app.request("/v1/topics/t/events");
      assert.equal(response.status, 200);
      open.push(response);
    }
    const refused = await app.request("/v1/topics/t/events");
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("content-type"), "application/problem+json");
    await refused.body?.cancel();
    await open.pop()!.body!.cancel();
    await new Promise((r) => setTimeout(r, 10));
    const again = await app.request("/v1/topics/t/messages");
    assert.equal(again.status, 200);
    await again.body?.cancel();
    for (const response of open) await response.body!.cancel();
  });
});

Deno.test("review fixes: no view of a topic, empty Last-Event-ID, bad path first, expired retry", async () => {
  const clock = { now: T0_MS + 1_000 };
  await withRegion(async ({ app }) => {
    const agent = testAgent();
    const message = await topicMessage(agent, "news", "x", 5_000);
    assert.equal((await publish(app, "news", [message]))[0].status, "accepted");
    const view = await app.request("/v1/channels/_topic:news");
    assert.equal(view.status, 400, "a topic has no view (it answered 500)");
    await view.body?.cancel();
    const first = await poll(app, "news", `since=${T0_MS - 1}`);
    const resumed = await app.request(`/v1/topics/news/messages?cursor=${first.cursor}`, {
      headers: { "last-event-id": "" },
    });
    assert.deepEqual((await resumed.json()).messages, [], "an empty header does not hide ?cursor");
    const empty = await app.request("/v1/topics/a..b", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [] }),
    });
    assert.equal(empty.status, 400, "a bad topic in the path is refused before the body");
    await empty.body?.cancel();
    clock.now += 10_000;
    assert.equal((await publish(app, "news", [message]))[0].status, "duplicate");
  }, () => clock.now);
});

Deno.test("replay from any start time, with arrival marks over many minutes, misses nothing", async () => {
  const clock = { now: T0_MS };
  await withRegion(async ({ app }) => {
    const agent = testAgent(() => clock.now);
    const published: { ts: number; data: number }[] = [];
    for (let i = 0; i < 80; i++) {
      clock.now += 20_000; // 80 messages over ~27 minutes
      await publish(app, "marks", [await topicMessage(agent, "marks", i)]);
      published.push({ ts: clock.now, data: i });
    }
    clock.now += 60_000;
    for (let since = T0_MS; since < clock.now; since += 97_000) {
      const page = await poll(app, "marks", `since=${since}&limit=256`);
      const expected = published.filter((m) => m.ts >= since).map((m) => m.data);
      assert.deepEqual(page.messages.map((m) => m.data), expected, `since T0 + ${since - T0_MS}`);
    }
  }, () => clock.now);
});

Deno.test("each publisher's order is kept: replay sorts a reversed arrival, live waits briefly for a gap", async () => {
  await withRegion(async ({ app }) => {
    const agent = testAgent(), other = testAgent();
    const mine = [], theirs = [];
    for (let i = 1; i <= 6; i++) mine.push(await topicMessage(agent, "order", `a${i}`));
    for (let i = 1; i <= 3; i++) theirs.push(await topicMessage(other, "order", `b${i}`));
    // The region receives both publishers' messages newest first.
    for (const m of [...mine.slice(0, 3)].reverse()) await publish(app, "order", [m]);
    for (const m of [...theirs].reverse()) await publish(app, "order", [m]);
    const replayed = await poll(app, "order", `since=${T0_MS - 1}`);
    const seqsOf = (prefix: string) =>
      replayed.messages.filter((m) => String(m.data).startsWith(prefix)).map((m) => m.data);
    assert.deepEqual(seqsOf("a"), ["a1", "a2", "a3"]);
    assert.deepEqual(seqsOf("b"), ["b1", "b2", "b3"]);

    const stream = await app.request(`/v1/topics/order/events`, {
      headers: { "last-event-id": replayed.cursor },
    });
    const reading = readEvents(stream, 4);
    await new Promise((r) => setTimeout(r, 20));
    await publish(app, "order", [mine[4]]); // a5 overtakes a4
    await new Promise((r) => setTimeout(r, 50));
    await publish(app, "order", [mine[3]]);
    await publish(app, "order", [mine[5]]);
    const live = (await reading).slice(1).map((e) => e.data.data);
    assert.deepEqual(live, ["a4", "a5", "a6"], "a5 waited for a4");
  });
});

Deno.test("a live message whose predecessor never comes is delivered after REORDER_HOLD_MS", async () => {
  await withRegion(async ({ app }) => {
    const agent = testAgent();
    const ms = [];
    for (let i = 1; i <= 3; i++) ms.push(await topicMessage(agent, "gap", i));
    const stream = await app.request(`/v1/topics/gap/events`);
    const reading = readEvents(stream, 3);
    await new Promise((r) => setTimeout(r, 20));
    await publish(app, "gap", [ms[0]]);
    const started = performance.now();
    await publish(app, "gap", [ms[2]]); // seq 2 is never published
    const events = await reading;
    assert.deepEqual(events.slice(1).map((e) => e.data.data), [1, 3]);
    assert.ok(performance.now() - started >= REORDER_HOLD_MS - 50, "seq 3 waited for seq 2");
  });
});
