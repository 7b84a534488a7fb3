/**
 * Topics and mailboxes on the Upstash store over a real `redis-server`: publish, live SSE,
 * long-poll and resume from a cursor; a sealed message read with a signed request, acknowledged,
 * gone; replay scans move the low-water marks through the store index.
 */
import assert from "node:assert/strict";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { ack, ackOf, directMessage, inbox, send } from "../mailbox/_mail.ts";
import { poll, publish, readEvents, topicMessage, topicRegion } from "./_topics.ts";

upstashTest("topics and mailboxes work on the Upstash store", async (env) => {
  const store = new UpstashStore({ url: env.rest.url, token: env.rest.token });
  const clock = { now: T0_MS + 1_000 };
  const region = topicRegion(store, () => clock.now);
  try {
    const alice = testAgent(), bob = testAgent();
    const stream = await region.app.request("/v1/topics/jobs.%3E/events");
    const reading = readEvents(stream, 3);
    await new Promise((r) => setTimeout(r, 30));
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await topicMessage(alice, `jobs.q${i}`, i));
    for (const [i, m] of sent.entries()) await publish(region.app, `jobs.q${i}`, [m]);
    const events = await reading;
    assert.deepEqual(events.map((e) => e.event), ["ready", "message", "message"]);
    const first = await poll(region.app, "jobs.>", `since=${T0_MS - 1}&limit=1`);
    const rest = await poll(region.app, "jobs.>", `cursor=${first.cursor}`);
    assert.deepEqual([...first.messages, ...rest.messages].map((m) => m.data).sort(), [0, 1, 2]);

    const [dm] = await send(region.app, [await directMessage(alice, bob.key.id, { hi: 1 })]);
    assert.equal(dm.status, "accepted");
    const read = await (await inbox(region.app, bob, clock.now)).json();
    assert.deepEqual(read.messages.map((m: { id: string }) => m.id), [dm.id]);
    const acked = await ack(region.app, bob, [await ackOf(bob, [dm.id])], clock.now);
    assert.equal((await acked.json()).results[0].status, "accepted");
    assert.deepEqual((await (await inbox(region.app, bob, clock.now)).json()).messages, []);
  } finally {
    await region.stop();
    await store.close();
  }
});
