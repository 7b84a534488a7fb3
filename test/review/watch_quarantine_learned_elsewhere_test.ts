/**
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
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { channelWatchOf } from "../../src/views/channel_watch.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { bodyOf, signBody, T0_MS } from "../support/signing.ts";

const POLL_MS = 20;

const push = async (store: RegionStore, ...envelopes: unknown[]) =>
  await ingest(envelopes, store, verifyEd25519, T0_MS);

Deno.test("review: a waiter is woken by an equivocation another instance stored, whichever read here learned it first", async () => {
  const dir = await Deno.makeTempDir();
  const here = await DenoKvStore.open(`${dir}/kv.sqlite3`);
  const other = await DenoKvStore.open(`${dir}/kv.sqlite3`);
  const watch = channelWatchOf(here, POLL_MS);
  try {
    const views = new ChannelViews(here);
    const q = AgentKey.generate();
    const signed = (channel: string, seq: number, value: string) =>
      signBody(
        q,
        JSON.stringify(bodyOf(q, { channel, seq, ops: [{ op: "set", key: "k", value }] })),
      );
    await push(here, signed("c", 1, "mine"));
    assert.equal(JSON.parse((await views.read("c")).state.viewText()).map.k, "mine");
    const ticket = await watch.ticket("c");
    // Q equivocates through the other instance, and a read of another channel here learns it
    // before the poll runs.
    await push(other, signed("d", 1, "one"));
    assert.equal((await push(other, signed("d", 1, "two"))).evidence.length, 1);
    await views.read("x");
    assert.equal(await ticket.wait(1_000), true, "the waiter of c slept its whole wait");
    assert.equal(JSON.parse((await views.read("c", true)).state.viewText()).map.k, undefined);
  } finally {
    watch.close();
    here.close();
    other.close();
    await Deno.remove(dir, { recursive: true });
  }
});
