/** ChannelWatch: what wakes a waiting reader, and what does not (real Deno KV). */
import assert from "node:assert/strict";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { ingest } from "../../src/region/ingest.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { ChannelWatch, channelWatchOf } from "../../src/views/channel_watch.ts";
import { EQUIVOCATIONS_CHANNEL } from "../../src/protocol/equivocation.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { bodyOf, signBody, T0_MS, testAgent } from "../support/signing.ts";
import { withKvInstances } from "../support/kv_instances.ts";

/** Long enough that only a notification, never the log poll, can wake a ticket in a test. */
const NO_POLL_MS = 3_600_000;

Deno.test("an ingest here wakes the tickets of the channels it stored in, at once, and no others", async () => {
  await withKvInstances(1, async ([store]) => {
    const watch = channelWatchOf(store, NO_POLL_MS);
    const [mine, other] = [await watch.ticket("c"), await watch.ticket("d")];
    const agent = testAgent();
    const outcome = await ingest(
      [agent.sign("c", [{ op: "set", key: "x", value: 1 }])],
      store,
      verifyEd25519,
      T0_MS,
    );
    assert.equal(outcome.accepted.length, 1);
    assert.equal(await mine.wait(0), true, "woken by the ingest, not by a poll");
    assert.equal(await other.wait(0), false);
    assert.equal(watch.size, 0);
  });
});

Deno.test("what this instance stored wakes its waiters once: the log poll does not wake them again for it", async () => {
  await withKvInstances(1, async ([store]) => {
    const watch = new ChannelWatch(store, 20);
    const first = await watch.ticket("c");
    const agent = testAgent();
    const delta = agent.sign("c", [{ op: "set", key: "x", value: 1 }]);
    const [stored] = (await ingest([delta], store, verifyEd25519, T0_MS)).accepted;
    watch.stored([stored]); // as the ingest of this instance tells channelWatchOf(store)
    assert.equal(await first.wait(0), true);
    const next = await watch.ticket("c");
    assert.equal(await next.wait(300), false, "the poll found only what woke the first already");
  });
});

Deno.test("a duplicate wakes nobody; a proof of equivocation wakes every channel", async () => {
  await withKvInstances(1, async ([store]) => {
    const watch = channelWatchOf(store, NO_POLL_MS);
    const agent = testAgent();
    const delta = agent.sign("c", [{ op: "set", key: "x", value: 1 }]);
    await ingest([delta], store, verifyEd25519, T0_MS);
    const ticket = await watch.ticket("c");
    await ingest([delta], store, verifyEd25519, T0_MS);
    assert.equal(await ticket.wait(0), false, "a duplicate changes nothing");
    const any = await watch.ticket("elsewhere");
    watch.notify([EQUIVOCATIONS_CHANNEL]);
    assert.equal(await any.wait(0), true);
  });
});

Deno.test("what another instance stores wakes a ticket through the region log", async () => {
  await withKvInstances(2, async ([one, two]) => {
    const watch = new ChannelWatch(one, 20);
    const ticket = await watch.ticket("c");
    const agent = testAgent();
    await ingest(
      [agent.sign("c", [{ op: "inc", counter: "n", by: 1 }])],
      two,
      verifyEd25519,
      T0_MS,
    );
    assert.equal(await ticket.wait(10_000), true);
    // Nobody waits: the next poll stops, and nothing keeps the watch polling.
    await new Promise((r) => setTimeout(r, 60));
    const late = await watch.ticket("c");
    assert.equal(await late.wait(0), false, "a ticket sees only what is stored after it");
  });
});

Deno.test("an equivocation another instance stores wakes the waiters of the author's other channels", async () => {
  await withKvInstances(2, async ([one, two]) => {
    const key = AgentKey.generate();
    const at = (overrides: Record<string, unknown>) =>
      signBody(key, JSON.stringify(bodyOf(key, overrides)));
    await ingest([at({ channel: "d", seq: 1 })], one, verifyEd25519, T0_MS);
    const watch = new ChannelWatch(one, 20);
    const ticket = await watch.ticket("d");
    const pair = [
      at({ seq: 1, ops: [{ op: "set", key: "k", value: 1 }] }),
      at({ seq: 1, ops: [{ op: "set", key: "k", value: 2 }] }),
    ];
    await ingest([pair[0]], two, verifyEd25519, T0_MS);
    const outcome = await ingest([pair[1]], two, verifyEd25519, T0_MS);
    assert.equal(outcome.evidence.length, 1, "the second body of seq 1 is evidence");
    assert.equal(await ticket.wait(10_000), true, "woken although nothing was stored in d");
  });
});

Deno.test("MeshClient.viewChange waits for a change and gives null when none comes", async () => {
  await withKvInstances(1, async ([store]) => {
    const app = createRegionApp({ region: "w-1", store, now: () => T0_MS });
    const fetchApp: typeof fetch = (input, init) =>
      Promise.resolve(app.request(input instanceof Request ? input : String(input), init));
    const client = new MeshClient("http://w-1.test", { fetch: fetchApp });
    const agent = testAgent();
    await client.push([agent.sign("c", [{ op: "set", key: "x", value: 1 }])]);
    const first = await client.view("c");
    assert.equal(await client.viewChange("c", first.fingerprint, 1), null);
    const changing = client.viewChange("c", first.fingerprint, 10);
    await client.push([agent.sign("c", [{ op: "set", key: "x", value: 2 }])]);
    const changed = await changing;
    assert.deepEqual(changed?.map, { x: 2 });
    const page = await client.tail("c", "2", 10, 1);
    assert.deepEqual(page.deltas, []);
  });
});

Deno.test("close() ends every waiting read as if its wait ran out, and every later one at once", async () => {
  await withKvInstances(1, async ([store]) => {
    const watch = new ChannelWatch(store, 20);
    const waiting = (await watch.ticket("c")).wait(30_000);
    watch.close();
    assert.equal(await waiting, false);
    assert.equal(await (await watch.ticket("c")).wait(30_000), false);
    assert.equal(watch.size, 0);
  });
});
