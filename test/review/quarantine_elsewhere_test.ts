/**
 * Review of ebb9226 (a long-poll woken by this instance's own ingest folds the new deltas from
 * memory).
 *
 * Attack: author Q has a delta folded in channel "c". Q equivocates through another instance of
 * the region (another store object over the same Deno KV file), which stores both halves and
 * the equivocation entry. Before this instance's log poll next catches its quarantine up (up to
 * 50 ms; never, here), any honest delta pushed to "c" through this instance wakes a long-poll on
 * "c", and the woken read folds it from memory with the quarantine this instance last knew.
 *
 * Impact: the woken answer renders Q's deltas although the region's set proves Q equivocated
 * before the delta that woke it was stored — a view no snapshot of the store renders (§9.6), and
 * one a plain read at the same moment does not return. Every long-poller of "c" gets it, with
 * an entity tag it may then wait on.
 *
 * Expected: a woken read excludes every author whose equivocation was stored before the delta
 * that woke it, as a plain read does (it must read the store's equivocation mark at least).
 */
/*
 * Review of 0ab0560 / 55b6057 (views and the watch's poll share the quarantine's catch-up to the
 * store's change marks).
 *
 * Attack: a long-poll waits on channel "c", whose view holds a delta of author Q. Q equivocates
 * through another instance of the region (in channel "d"). Before this instance's log poll runs,
 * any other read here catches the shared quarantine up — a plain view read of any channel (its
 * `catchUpTo`), or an ingest's periodic refresh. The poll then reads the quarantine's version
 * only after that bump, sees it unchanged, and wakes nobody for it (the log entries it reads are
 * of "d").
 *
 * Impact: the waiting read of "c" sleeps its whole wait (up to 25 s) and then answers 304 with a
 * view that still renders Q's deltas, instead of the new view within about 50 ms (§12.2). An
 * equivocator can time its proof with a read of any channel to keep its deltas in every
 * follower's view for a full wait.
 *
 * Expected: a quarantine that grew while anyone waits wakes every waiter within a poll period,
 * whichever read caught it up.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { ingest } from "../../src/region/ingest.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { channelWatchOf, type Ticket } from "../../src/views/channel_watch.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { signedSet, T0_MS, testAgent } from "../support/signing.ts";
import { withKvInstances } from "../support/kv_instances.ts";

/** Long enough that only a notification, never the log poll, wakes a ticket in the test. */
const NO_POLL_MS = 3_600_000;

const push = async (store: RegionStore, ...envelopes: unknown[]) =>
  await ingest(envelopes, store, verifyEd25519, T0_MS);

/**
 * Two instances, here and other; Q's delta is folded into "c" here and a long-poll on "c" waits
 * here; then Q equivocates in "d" through the other instance (stored there with its evidence).
 */
async function equivocatedElsewhere(
  pollMs: number,
  work: (
    s: { here: RegionStore; other: RegionStore; views: ChannelViews; ticket: Ticket },
  ) => Promise<void>,
) {
  await withKvInstances(2, async ([here, other]) => {
    const watch = channelWatchOf(here, pollMs);
    const views = new ChannelViews(here);
    const q = AgentKey.generate();
    await push(here, signedSet(q, "c", 1, "mine"));
    assert.equal(JSON.parse((await views.read("c")).state.viewText()).map.k, "mine");
    const ticket = await watch.ticket("c");
    await push(other, signedSet(q, "d", 1, "one"));
    assert.equal((await push(other, signedSet(q, "d", 1, "two"))).evidence.length, 1);
    try {
      await work({ here, other, views, ticket });
    } finally {
      watch.close();
    }
  });
}

Deno.test("review: a woken read never renders an author another instance proved to equivocate", async () => {
  await equivocatedElsewhere(NO_POLL_MS, async ({ here, other, views, ticket }) => {
    // An honest delta through this instance wakes the long-poll on "c".
    await push(here, testAgent().sign("c", [{ op: "set", key: "h", value: 1 }]));
    assert.equal(await ticket.wait(0), true);
    const woken = await views.read("c", true);
    const plain = await new ChannelViews(other).read("c");
    const map = JSON.parse(woken.state.viewText()).map;
    assert.equal(map.h, 1, "the woken read reflects what woke it");
    assert.equal(map.k, undefined, "Q's delta is rendered by the woken read");
    assert.equal(woken.state.viewText(), plain.state.viewText());
  });
});

Deno.test("review: a waiter is woken by an equivocation another instance stored, whichever read here learned it first", async () => {
  await equivocatedElsewhere(20, async ({ views, ticket }) => {
    await views.read("x"); // learns of Q's equivocation before the poll runs
    assert.equal(await ticket.wait(1_000), true, "the waiter of c slept its whole wait");
    assert.equal(JSON.parse((await views.read("c", true)).state.viewText()).map.k, undefined);
  });
});
