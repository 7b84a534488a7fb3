/**
 * A view read woken by this instance's own ingest folds what was just stored from memory
 * (ChannelWatch.arrived → ChannelViews.read(…, woken)): it reads only the store's change marks (an
 * equivocation another instance stored must still exclude its author, see
 * test/review/woken_read_stale_quarantine_test.ts), never the arrivals it holds; whenever the
 * cached fold does not end right before those deltas, or the quarantine moved, it reads the store
 * as any read does. Real Deno KV; two store objects on one file are two instances.
 */
import assert from "node:assert/strict";
import { ingest } from "../../src/region/ingest.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import {
  ChannelWatch,
  channelWatchOf,
  WATCH_ARRIVED_PER_CHANNEL_MAX,
} from "../../src/views/channel_watch.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { signedSet, T0_MS, testAgent } from "../support/signing.ts";
import { withKvInstances } from "../support/kv_instances.ts";

/** Long enough that only a notification, never the log poll, can wake a ticket in a test. */
const NO_POLL_MS = 3_600_000;

/** `store` with a count of the calls made on it while `counting` is on. */
function counted(store: RegionStore) {
  const calls: string[] = [];
  let counting = false;
  const proxy = new Proxy(store, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (counting) calls.push(String(name));
        return value.apply(target, args);
      };
    },
  }) as RegionStore;
  return {
    store: proxy,
    calls: (): string[] => [...calls],
    count: (on: boolean) => {
      counting = on;
      calls.length = 0;
    },
  };
}

const push = async (store: RegionStore, ...envelopes: unknown[]) =>
  (await ingest(envelopes, store, verifyEd25519, T0_MS)).accepted;

Deno.test("a read woken by this instance's ingest folds the new delta from memory, reading only the marks", async () => {
  await withKvInstances(1, async ([kv]) => {
    const { store, calls, count } = counted(kv);
    channelWatchOf(store, NO_POLL_MS);
    const views = new ChannelViews(store);
    const agent = testAgent();
    await push(store, agent.sign("c", [{ op: "set", key: "a", value: 1 }]));
    await views.read("c");
    const ticket = await channelWatchOf(store).ticket("c");
    await push(store, agent.sign("c", [{ op: "inc", counter: "n", by: 2 }]));
    assert.equal(await ticket.wait(0), true);
    count(true);
    const woken = await views.read("c", true);
    assert.deepEqual(calls(), ["changeMarks"], "no store call but the marks");
    count(false);
    assert.equal(woken.source, "memory");
    assert.equal(woken.caughtUp, 1);
    const fresh = await new ChannelViews(kv).read("c");
    assert.equal(woken.state.viewText(), fresh.state.viewText());
    assert.equal(woken.state.fingerprint(), fresh.state.fingerprint());
    // A read that is not a wake-up's reads the store as always.
    count(true);
    assert.equal((await views.read("c")).source, "cache");
    assert.ok(calls().includes("changeMarks"));
  });
});

Deno.test("a woken read whose fold does not end right before what was stored here reads the store", async () => {
  await withKvInstances(2, async ([kv, other]) => {
    const { store, calls, count } = counted(kv);
    channelWatchOf(store, NO_POLL_MS);
    const views = new ChannelViews(store);
    const [a, b] = [testAgent(), testAgent()];
    await push(store, a.sign("c", [{ op: "set", key: "a", value: 1 }]));
    await views.read("c");
    const ticket = await channelWatchOf(store).ticket("c");
    await push(other, b.sign("c", [{ op: "set", key: "b", value: 2 }])); // arrival 2, elsewhere
    await push(store, a.sign("c", [{ op: "set", key: "a", value: 3 }])); // arrival 3, here
    assert.equal(await ticket.wait(0), true);
    count(true);
    const woken = await views.read("c", true);
    assert.ok(calls().includes("listArrivals"), "the gap is read from the store");
    assert.equal(woken.source, "cache");
    assert.equal(woken.caughtUp, 2);
    assert.deepEqual(JSON.parse(woken.state.viewText()).map, { a: 3, b: 2 });
  });
});

Deno.test("a woken read after the quarantine grew builds the fold again from the store", async () => {
  await withKvInstances(1, async ([kv]) => {
    const { store } = counted(kv);
    channelWatchOf(store, NO_POLL_MS);
    const views = new ChannelViews(store);
    const q = AgentKey.generate();
    const signed = (channel: string, seq: number, value: string) =>
      signedSet(q, channel, seq, value);
    await push(store, signed("c", 1, "mine"));
    assert.equal(JSON.parse((await views.read("c")).state.viewText()).map.k, "mine");
    const ticket = await channelWatchOf(store).ticket("c");
    // Q equivocates in another channel (noted here at once), then an honest delta wakes "c".
    await push(store, signed("d", 1, "one"));
    const out = await ingest([signed("d", 1, "two")], store, verifyEd25519, T0_MS);
    assert.equal(out.evidence.length, 1);
    await push(store, testAgent().sign("c", [{ op: "set", key: "h", value: 1 }]));
    assert.equal(await ticket.wait(0), true);
    const woken = await views.read("c", true);
    assert.notEqual(woken.source, "memory");
    const map = JSON.parse(woken.state.viewText()).map;
    assert.equal(map.k, undefined, "Q is excluded");
    assert.equal(map.h, 1);
  });
});

Deno.test("the watch keeps what was stored only in watched channels, a bounded tail, until nobody waits", async () => {
  await withKvInstances(1, async ([store]) => {
    const watch = new ChannelWatch(store, 10);
    const agent = testAgent();
    const first = await watch.ticket("c");
    const deltas = [];
    for (let seq = 1; seq <= WATCH_ARRIVED_PER_CHANNEL_MAX + 5; seq++) {
      deltas.push(agent.sign("c", [{ op: "set", key: "k", value: seq }]));
      deltas.push(agent.sign("d", [{ op: "set", key: "k", value: seq }]));
    }
    const accepted = await push(store, ...deltas);
    const arrived = accepted.map((d) => ({ ...d, arrival: d.seq }));
    watch.stored(accepted, false, arrived);
    assert.equal(watch.arrived("d").length, 0, "nobody waits on d");
    const kept = watch.arrived("c");
    assert.equal(kept.length, WATCH_ARRIVED_PER_CHANNEL_MAX);
    assert.equal(kept.at(-1)!.arrival, WATCH_ARRIVED_PER_CHANNEL_MAX + 5, "the newest stay");
    assert.equal(await first.wait(0), true);
    await new Promise((resolve) => setTimeout(resolve, 80)); // the poll finds nobody waiting
    assert.equal(watch.arrived("c").length, 0);
    watch.close();
  });
});
